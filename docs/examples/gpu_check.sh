#!/usr/bin/env bash
# The checks a machine with a CUDA GPU runs, in one go (README, "Accelerators": "On a real GPU").
#
#   bash docs/examples/gpu_check.sh OUT_DIR      (from the repository root; python3 must hold CuPy)
#
# 1. installs gemmbench into python3 without fetching anything (the GPU image already has NumPy, CuPy,
#    nvidia-ml-py, ml_dtypes, pytest), 2. runs tests/test_cupy_device.py (planted wrong kernels on the GPU,
#    TF32 in secret, events against a stopwatch, launch-bound, NVML, cold mode), 3. measures the device's
#    roofs (gemmbench machine -b cupy,cupy-tf32), 4. runs squares and Llama-3.1-8B's prefill and decode GEMMs
#    into one CSV, 5. projects the prefill step and writes the report and the plots (plots.tgz). Each step has
#    its own time limit and a failing step does not stop the next: OUT_DIR/log.txt says what each did. Seven
#    files in all (docs/accelerators.md has what an H200 gave).
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
gb=("$py" -m gemmbench.cli)
step() { # step SECONDS NAME COMMAND...: one line before and after, the exit status kept in the log
    local limit=$1 name=$2
    shift 2
    echo "== $name ($(date -u +%H:%M:%S))"
    timeout "$limit" "$@"
    echo "== $name: exit $?"
}
{
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit,pci.bus_id --format=csv
    if ! "$py" -m pip install -q --no-deps --no-build-isolation --no-index . >/dev/null 2>&1; then
        echo "pip could not install the project here: importing it from a copied tree instead"
        rm -rf /tmp/gbsrc && mkdir -p /tmp/gbsrc/gemmbench
        cp -r bench/. /tmp/gbsrc/gemmbench/ && cp -r kernels /tmp/gbsrc/gemmbench/kernels
        export PYTHONPATH=/tmp/gbsrc
    fi
    "$py" -c "import cupy, numpy, gemmbench; print('cupy', cupy.__version__, 'numpy', numpy.__version__,
          'gemmbench', gemmbench.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"
    step 170 "pytest tests/test_cupy_device.py" "$py" -m pytest -q -p no:cacheprovider -rs tests/test_cupy_device.py
    step 20 "gemmbench list" "${gb[@]}" list
    step 100 "gemmbench machine" "${gb[@]}" machine -b cupy,cupy-tf32 -j 1
    cp "$(ls -t results/machine-*.csv | grep -v gemm.csv | head -1)" "$out/"  # beside gpu.csv: plot and report find it
    step 80 "squares" "${gb[@]}" run -b cupy,cupy-tf32 -j 1 --sizes 2048,8192 -d float64,float32,bfloat16 \
        --max-time 0.3 -o "$out/gpu.csv"
    step 200 "llama3.1-8b prefill" "${gb[@]}" run -b cupy,cupy-tf32 -j 1 --workload llama3.1-8b --phase prefill \
        -d bfloat16,float32 --max-time 0.3 -o "$out/gpu.csv"
    step 100 "llama3.1-8b decode" "${gb[@]}" run -b cupy -j 1 --workload decode:llama3.1-8b -d bfloat16 --max-time 0.3 \
        -o "$out/gpu.csv"
    step 30 "project" "${gb[@]}" project --workload llama3.1-8b:prefill --dtype bfloat16 --spec H200 "$out/gpu.csv" \
        -o "$out/project.csv"
    step 30 "compare tf32" "${gb[@]}" compare "$out/gpu.csv" --baseline cupy --markdown
    step 40 "report" "${gb[@]}" report "$out/gpu.csv" -o "$out/report.html"
    step 40 "plot" "${gb[@]}" plot "$out/gpu.csv" --formats png --out /tmp/gbplots
    tar czf "$out/plots.tgz" -C /tmp gbplots
} 2>&1 | tee "$out/log.txt"
