# Sourced on the GPU machine: where the carried binaries, libraries and data are.
R=$(pwd)/.devcarry
export PATH=$R/bin:$PATH
export LD_LIBRARY_PATH=$R/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}
export GPTOSS_FIXTURES_DIR=$(pwd)/tests/fixtures
[ -f $R/tokenizer.json ] || gunzip -k $R/tokenizer.json.gz
export GPTOSS_TOKENIZER=$R/tokenizer.json
export OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
