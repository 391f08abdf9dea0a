# shellcheck shell=bash
# Shared logic of the protocol scripts in scripts/<method>/. Sourced, never run directly.
#
# Each scripts/<method>/<protocol>.sh sources this file and its method's settings.sh
# (TRAINER, config files) and calls one *_main function below. This file owns argument
# checking, usage texts, the environment variables (DATA, OUTPUT, CFG, CLIP_PATH, PYTHON,
# STATUS_PYTHON, DRY_RUN) and the output layout read by parse_results.py. Whether a run is
# skipped (complete), resumed (partial) or refused (its folder holds another run) is decided
# by train.py itself; --dry-run only predicts it from `parse_results.py --status RUN_DIR`.
#
# Output layout (the parse step depends on it; see parse_results.py):
#   $OUTPUT/base2new/train_base/<dataset>/shots_16/<Trainer>/<cfg>/seed<S>
#   $OUTPUT/base2new/test_new/<dataset>/shots_16/<Trainer>/<cfg>/seed<S>
#   $OUTPUT/xd/train/imagenet/shots_16/<Trainer>/<cfg>/seed<S>
#   $OUTPUT/xd/test/<dataset>/shots_16/<Trainer>/<cfg>/seed<S>
#   $OUTPUT/fewshot/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>

if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
    echo "error: these scripts need bash >= 4.4 (found $BASH_VERSION)" >&2
    exit 1
fi

# ------------------------------------------------------------------------------------------
# Constants: dataset names are those of configs/datasets/<name>.yaml.
# ------------------------------------------------------------------------------------------
ALL_DATASETS=(caltech101 dtd eurosat fgvc_aircraft food101 imagenet imagenet_a imagenet_r
    imagenet_sketch imagenetv2 oxford_flowers oxford_pets stanford_cars sun397 ucf101)
# The 11 datasets of base-to-new and few-shot learning, in the papers' order.
BENCHMARK_DATASETS=(imagenet caltech101 oxford_pets stanford_cars oxford_flowers food101
    fgvc_aircraft sun397 dtd eurosat ucf101)
XD_TARGETS=("${BENCHMARK_DATASETS[@]:1}")
DG_TARGETS=(imagenetv2 imagenet_sketch imagenet_a imagenet_r)
XD_SOURCE=imagenet
ALL_SHOTS=(1 2 4 8 16)
DEFAULT_SEEDS=(1 2 3)
# Shots of base-to-new and cross-dataset training (CoCoOp's protocol).
PROTOCOL_SHOTS=16
EXIT_USAGE=2

# ------------------------------------------------------------------------------------------
# Locations and environment. Relative paths the user gives are relative to where they ran
# the script; then everything runs from the repository root.
# ------------------------------------------------------------------------------------------
CALLER_PWD=$PWD
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"
SCRIPT="${SCRIPT_DIR#"$REPO_ROOT"/}/$(basename "$0")"

from_caller() {  # from_caller PATH: PATH as seen from the repository root
    if [[ $1 == /* || $CALLER_PWD == "$REPO_ROOT" ]]; then
        printf '%s\n' "$1"
    else
        printf '%s\n' "$CALLER_PWD/$1"
    fi
}

if [[ -n ${DATA:-} ]]; then DATA=$(from_caller "$DATA"); else DATA=./data; fi
if [[ -n ${OUTPUT:-} ]]; then OUTPUT=$(from_caller "$OUTPUT"); else OUTPUT=output; fi
if [[ -n ${CLIP_PATH:-} ]]; then CLIP_PATH=$(from_caller "$CLIP_PATH"); fi
# CFG may be given relative to the current directory or to the repository root.
if [[ -n ${CFG:-} && $CFG != /* && -f "$CALLER_PWD/$CFG" ]]; then CFG="$CALLER_PWD/$CFG"; fi
PYTHON=${PYTHON:-python}
if [[ $PYTHON == */* ]]; then PYTHON=$(from_caller "$PYTHON"); fi
STATUS_PYTHON=${STATUS_PYTHON:-$PYTHON}
if [[ $STATUS_PYTHON == */* ]]; then STATUS_PYTHON=$(from_caller "$STATUS_PYTHON"); fi
DRY_RUN=${DRY_RUN:-0}
# Sweeps call the per-run scripts; they must see the same, already resolved, values.
export DATA OUTPUT PYTHON STATUS_PYTHON DRY_RUN
if [[ -n ${CLIP_PATH:-} ]]; then export CLIP_PATH; fi
if [[ -n ${CFG:-} ]]; then export CFG; fi

cd "$REPO_ROOT"

# ------------------------------------------------------------------------------------------
# Messages
# ------------------------------------------------------------------------------------------
USAGE_ARGS=""     # e.g. "DATASET SEED [KEY VALUE ...]"
USAGE_ABOUT=""    # what the script does
USAGE_HELP=""     # one line per argument
USAGE_OUTPUT=""   # where the run goes
USAGE_CFG=""      # the default config file(s)

usage() {
    cat <<EOF
Usage: $SCRIPT [--dry-run]${ONE_RUN:+ [--restart]} $USAGE_ARGS

$USAGE_ABOUT

$USAGE_HELP
Output: $USAGE_OUTPUT
${ONE_RUN:+
  --restart    discard the run its folder holds (checkpoints deleted, logs and config kept in
               .previous/) and run it again
}
Environment (relative paths are taken from the current directory):
  DATA=DIR           dataset root (default: ./data in the repository)
  OUTPUT=DIR         output root (default: output in the repository)
  CFG=FILE           config file to use instead of $USAGE_CFG
  CLIP_PATH=FILE     CLIP weights, passed as MODEL.BACKBONE.PATH
                     (default: clip's download cache, ~/.cache/clip)
  PYTHON=EXE         Python that runs train.py (default: python)
  STATUS_PYTHON=EXE  Python for parse_results.py --status (default: \$PYTHON)
  DRY_RUN=1          same as --dry-run: print the commands, run nothing

train.py skips a run that is complete with the same config, resumes an incomplete one from its
last checkpoint (exactly), and refuses a folder that holds a run with another config or data:
set OUTPUT for a variant, or discard the old run with the per-run script's --restart.
EOF
}

die_usage() {  # die_usage MESSAGE: bad arguments; nothing has run yet
    {
        echo "error: $1"
        echo
        usage
    } >&2
    exit "$EXIT_USAGE"
}

die() {
    echo "error: $1" >&2
    exit 1
}

is_dry_run() {
    [[ $DRY_RUN == 1 ]]
}

dataset_help() {  # dataset_help NAME...: the DATASET line of a usage text
    local names="$*"
    echo "  DATASET      one of: $(fold -s -w 70 <<<"$names" | sed -e 's/ *$//' -e '2,$s/^/                       /')"
}

SEED_HELP="  SEED         a positive integer (the papers report the mean over seeds 1 2 3)"
SHOTS_HELP="  SHOTS        shots per class: ${ALL_SHOTS[*]}"
OPTS_HELP="  KEY VALUE    extra config options for train.py, e.g. OPTIM.MAX_EPOCH 5
               (they do not change the output dir: set OUTPUT for a variant)"

# ------------------------------------------------------------------------------------------
# Argument checks. Each one exits with the usage text (status 2) before anything runs.
# ------------------------------------------------------------------------------------------
POSITIONAL=()

take_flags() {  # take_flags ARGS...: handle --dry-run / --help anywhere, the rest goes to POSITIONAL
    POSITIONAL=()
    local arg
    for arg; do
        case $arg in
            --dry-run) DRY_RUN=1 ;;
            --restart)
                [[ -n ${ONE_RUN:-} ]] || die_usage "--restart applies to one run: pass it to that run's script"
                RESTART=1
                ;;
            -h | --help) usage; exit 0 ;;
            --*) die_usage "unknown option '$arg'" ;;
            *) POSITIONAL+=("$arg") ;;
        esac
    done
    export DRY_RUN
}

contains() {  # contains WORD LIST...
    local word=$1 item
    shift
    for item; do [[ $item == "$word" ]] && return 0; done
    return 1
}

check_dataset() {  # check_dataset NAME WHY VALID...: WHY tells why a known name is not valid here
    local name=$1 why=$2
    shift 2
    if ! contains "$name" "${ALL_DATASETS[@]}"; then
        die_usage "unknown dataset '$name'. Valid datasets (configs/datasets/<name>.yaml): ${ALL_DATASETS[*]}"
    fi
    if ! contains "$name" "$@"; then
        die_usage "'$name' cannot be used here: $why. Valid here: $*"
    fi
}

check_seed() {
    [[ $1 =~ ^[1-9][0-9]*$ ]] || die_usage "SEED must be a positive integer, got '$1'"
}

check_shots() {
    contains "$1" "${ALL_SHOTS[@]}" || die_usage "SHOTS must be one of ${ALL_SHOTS[*]}, got '$1'"
}

check_nargs() {  # check_nargs MIN: at least MIN positional arguments, then KEY VALUE pairs
    local min=$1
    if ((${#POSITIONAL[@]} < min)); then
        die_usage "expected $min argument(s) ($USAGE_ARGS), got ${#POSITIONAL[@]}"
    fi
    if (((${#POSITIONAL[@]} - min) % 2)); then
        die_usage "extra options must come in KEY VALUE pairs, got: ${POSITIONAL[*]:min}"
    fi
}

# ------------------------------------------------------------------------------------------
# Configs
# ------------------------------------------------------------------------------------------
config_file() {  # config_file DEFAULT: $CFG if set, else DEFAULT; must exist
    local cfg=${CFG:-$1}
    [[ -f $cfg ]] || die "config file not found: $cfg (run from a complete checkout, or set CFG=path/to/config.yaml)"
    printf '%s\n' "$cfg"
}

config_name() {  # config_name FILE: the name used in the output path
    basename "$1" .yaml
}

# ------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------
run_status() {  # run_status RUN_DIR: prints complete | incomplete | missing
    local dir=$1 answer
    if [[ ! -d $dir ]]; then
        echo missing
        return 0
    fi
    answer=$("$STATUS_PYTHON" "$REPO_ROOT/parse_results.py" --status "$dir" 2>&1) || true
    case $answer in
        complete | incomplete | missing) echo "$answer" ;;
        *) die "could not read the status of $dir with '$STATUS_PYTHON parse_results.py --status': $answer
(set STATUS_PYTHON to the project's Python)" ;;
    esac
}

check_environment() {  # before a real run: the data root and CLIP weights must exist
    [[ -d $DATA ]] || die "dataset root not found: $DATA (set DATA=/path/to/datasets; see the dataset docs)"
    if [[ -n ${CLIP_PATH:-} && ! -f $CLIP_PATH ]]; then
        die "CLIP_PATH is not a file: $CLIP_PATH"
    fi
}

launch() {  # launch RUN_DIR TRAIN_PY_ARGS...: run train.py into RUN_DIR (it skips, resumes or refuses)
    local dir=$1
    shift
    local cmd=("$PYTHON" train.py --root "$DATA" "$@")
    if [[ -n ${RESTART:-} ]]; then cmd+=(--restart); fi
    if [[ -n ${CLIP_PATH:-} ]]; then cmd+=(MODEL.BACKBONE.PATH "$CLIP_PATH"); fi
    # Training runs keep a checkpoint of their newest epoch, so an interrupted run resumes.
    if [[ " $* " != *" --eval-only "* ]]; then cmd+=(TRAIN.CHECKPOINT_FREQ 1 TRAIN.CHECKPOINT_KEEP_LAST 1); fi
    # The user's options come last, so they override the protocol's.
    cmd+=("${EXTRA_OPTS[@]}")
    if is_dry_run; then
        case $(run_status "$dir") in
            complete)
                echo "Skipping $dir: already complete (train.py checks that its config is unchanged)"
                return 0
                ;;
            incomplete) echo "Resuming incomplete run in $dir" ;;
            missing) echo "Running into $dir" ;;
        esac
        local line
        printf -v line '%q ' "${cmd[@]}"
        echo "[dry-run] ${line% }"
        return 0
    fi
    check_environment
    "${cmd[@]}"
}

require_complete() {  # require_complete MODEL_DIR FIX_COMMAND: the model to evaluate must be trained
    local dir=$1 fix=$2 status
    status=$(run_status "$dir")
    [[ $status == complete ]] && return 0
    if is_dry_run; then
        echo "[dry-run] note: $dir is $status; the command below needs it complete ($fix)"
        return 0
    fi
    die "the model to evaluate is not trained yet: $dir is $status. Train it first with: $fix"
}

# ------------------------------------------------------------------------------------------
# Protocols. The settings.sh of each method sets:
#   TRAINER                 Dassl trainer name (MuDPT, CoOp, CoCoOp, ZeroshotCLIP)
#   ZERO_SHOT               1 when the method has no training (evaluation only)
#   CFG_BASE2NEW            base-to-new config; CFG_BASE2NEW_IMAGENET for ImageNet if different
#   CFG_XD                  cross-dataset / domain-generalisation config
#   CFG_FEWSHOT             few-shot config (empty: no few-shot protocol)
#   FEWSHOT_OPTS            extra options of the few-shot protocol (array)
# ------------------------------------------------------------------------------------------
EXTRA_OPTS=()

base2new_cfg() {  # base2new_cfg DATASET: the default config for DATASET
    if [[ $1 == imagenet && -n ${CFG_BASE2NEW_IMAGENET:-} ]]; then
        echo "$CFG_BASE2NEW_IMAGENET"
    else
        echo "$CFG_BASE2NEW"
    fi
}

base2new_cfg_help() {
    if [[ -n ${CFG_BASE2NEW_IMAGENET:-} ]]; then
        echo "$CFG_BASE2NEW (imagenet: $CFG_BASE2NEW_IMAGENET)"
    else
        echo "$CFG_BASE2NEW"
    fi
}

base2new_dir() {  # base2new_dir ROLE_DIR DATASET CFG_FILE SEED
    echo "$OUTPUT/base2new/$1/$2/shots_$PROTOCOL_SHOTS/$TRAINER/$(config_name "$3")/seed$4"
}

set_base2new_usage() {  # set_base2new_usage ABOUT ROLE_DIR
    USAGE_ARGS="DATASET SEED [KEY VALUE ...]"
    USAGE_ABOUT=$1
    USAGE_HELP="$(dataset_help "${BENCHMARK_DATASETS[@]}")
$SEED_HELP
$OPTS_HELP
"
    USAGE_OUTPUT="\$OUTPUT/base2new/$2/DATASET/shots_$PROTOCOL_SHOTS/$TRAINER/<cfg>/seed<SEED>"
    USAGE_CFG=$(base2new_cfg_help)
}

parse_dataset_seed() {  # parse_dataset_seed WHY VALID...: DATASET SEED [KEY VALUE ...]
    local why=$1
    shift
    check_nargs 2
    check_dataset "${POSITIONAL[0]}" "$why" "$@"
    check_seed "${POSITIONAL[1]}"
    EXTRA_OPTS=("${POSITIONAL[@]:2}")
}

B2N_WHY="base-to-new generalisation uses the 11 benchmark datasets
(the ImageNet variants are test-only: use xd_test.sh)"

base2new_train_main() {
    ONE_RUN=1
    if [[ $ZERO_SHOT == 1 ]]; then
        set_base2new_usage "Base-to-new generalisation, base classes: evaluate zero-shot CLIP ($TRAINER)
on the base classes (first half) of DATASET. No training." train_base
    else
        set_base2new_usage "Base-to-new generalisation, step 1: train $TRAINER on the base classes (first half)
of DATASET with $PROTOCOL_SHOTS shots per class, then test on the base classes." train_base
    fi
    take_flags "$@"
    parse_dataset_seed "$B2N_WHY" "${BENCHMARK_DATASETS[@]}"
    local dataset=${POSITIONAL[0]} seed=${POSITIONAL[1]} cfg dir
    cfg=$(config_file "$(base2new_cfg "$dataset")")
    dir=$(base2new_dir train_base "$dataset" "$cfg" "$seed")
    local common=(--seed "$seed" --trainer "$TRAINER"
        --dataset-config-file "configs/datasets/$dataset.yaml" --config-file "$cfg" --output-dir "$dir")
    if [[ $ZERO_SHOT == 1 ]]; then
        launch "$dir" "${common[@]}" --eval-only DATASET.SUBSAMPLE_CLASSES base
    else
        launch "$dir" "${common[@]}" DATASET.NUM_SHOTS "$PROTOCOL_SHOTS" DATASET.SUBSAMPLE_CLASSES base
    fi
}

base2new_test_main() {
    ONE_RUN=1
    if [[ $ZERO_SHOT == 1 ]]; then
        set_base2new_usage "Base-to-new generalisation, new classes: evaluate zero-shot CLIP ($TRAINER)
on the new classes (second half) of DATASET. No training." test_new
    else
        set_base2new_usage "Base-to-new generalisation, step 2: evaluate the $TRAINER model trained by
base2new_train.sh (same DATASET, SEED and options) on the new classes (second half) of DATASET." test_new
    fi
    take_flags "$@"
    parse_dataset_seed "$B2N_WHY" "${BENCHMARK_DATASETS[@]}"
    local dataset=${POSITIONAL[0]} seed=${POSITIONAL[1]} cfg dir model_dir
    cfg=$(config_file "$(base2new_cfg "$dataset")")
    dir=$(base2new_dir test_new "$dataset" "$cfg" "$seed")
    local common=(--seed "$seed" --trainer "$TRAINER"
        --dataset-config-file "configs/datasets/$dataset.yaml" --config-file "$cfg" --output-dir "$dir")
    if [[ $ZERO_SHOT == 1 ]]; then
        launch "$dir" "${common[@]}" --eval-only DATASET.SUBSAMPLE_CLASSES new
        return
    fi
    model_dir=$(base2new_dir train_base "$dataset" "$cfg" "$seed")
    local opts=${EXTRA_OPTS[*]:+ ${EXTRA_OPTS[*]}}
    require_complete "$model_dir" "$(dirname "$SCRIPT")/base2new_train.sh $dataset $seed$opts"
    # Without --load-epoch, train.py evaluates the last checkpoint the training run wrote.
    launch "$dir" "${common[@]}" --model-dir "$model_dir" --eval-only \
        DATASET.NUM_SHOTS "$PROTOCOL_SHOTS" DATASET.SUBSAMPLE_CLASSES new
}

xd_dir() {  # xd_dir ROLE_DIR DATASET CFG_FILE SEED
    echo "$OUTPUT/xd/$1/$2/shots_$PROTOCOL_SHOTS/$TRAINER/$(config_name "$3")/seed$4"
}

xd_train_main() {
    ONE_RUN=1
    USAGE_ARGS="SEED [KEY VALUE ...]"
    if [[ $ZERO_SHOT == 1 ]]; then
        USAGE_ABOUT="Cross-dataset transfer / domain generalisation, source: evaluate zero-shot CLIP
($TRAINER) on ImageNet (all classes). No training."
    else
        USAGE_ABOUT="Cross-dataset transfer / domain generalisation, step 1: train $TRAINER on ImageNet
(all 1,000 classes, $PROTOCOL_SHOTS shots per class), then test on ImageNet."
    fi
    USAGE_HELP="$SEED_HELP
$OPTS_HELP
"
    USAGE_OUTPUT="\$OUTPUT/xd/train/imagenet/shots_$PROTOCOL_SHOTS/$TRAINER/<cfg>/seed<SEED>"
    USAGE_CFG=$CFG_XD
    take_flags "$@"
    check_nargs 1
    check_seed "${POSITIONAL[0]}"
    EXTRA_OPTS=("${POSITIONAL[@]:1}")
    local seed=${POSITIONAL[0]} cfg dir
    cfg=$(config_file "$CFG_XD")
    dir=$(xd_dir train "$XD_SOURCE" "$cfg" "$seed")
    local common=(--seed "$seed" --trainer "$TRAINER"
        --dataset-config-file "configs/datasets/$XD_SOURCE.yaml" --config-file "$cfg" --output-dir "$dir")
    if [[ $ZERO_SHOT == 1 ]]; then
        launch "$dir" "${common[@]}" --eval-only
    else
        launch "$dir" "${common[@]}" DATASET.NUM_SHOTS "$PROTOCOL_SHOTS" DATASET.SUBSAMPLE_CLASSES all
    fi
}

xd_test_main() {
    ONE_RUN=1
    USAGE_ARGS="DATASET SEED [KEY VALUE ...]"
    if [[ $ZERO_SHOT == 1 ]]; then
        USAGE_ABOUT="Cross-dataset transfer / domain generalisation, targets: evaluate zero-shot CLIP
($TRAINER) on DATASET (all classes). No training."
    else
        USAGE_ABOUT="Cross-dataset transfer / domain generalisation, step 2: evaluate the ImageNet model
trained by xd_train.sh (same SEED and options) on DATASET (all classes)."
    fi
    USAGE_HELP="$(dataset_help "${XD_TARGETS[@]}" "${DG_TARGETS[@]}")
               (the last four are the domain-generalisation targets)
$SEED_HELP
$OPTS_HELP
"
    USAGE_OUTPUT="\$OUTPUT/xd/test/DATASET/shots_$PROTOCOL_SHOTS/$TRAINER/<cfg>/seed<SEED>"
    USAGE_CFG=$CFG_XD
    take_flags "$@"
    parse_dataset_seed "ImageNet is the source dataset, evaluated by xd_train.sh" "${XD_TARGETS[@]}" "${DG_TARGETS[@]}"
    local dataset=${POSITIONAL[0]} seed=${POSITIONAL[1]} cfg dir model_dir
    cfg=$(config_file "$CFG_XD")
    dir=$(xd_dir test "$dataset" "$cfg" "$seed")
    local common=(--seed "$seed" --trainer "$TRAINER"
        --dataset-config-file "configs/datasets/$dataset.yaml" --config-file "$cfg" --output-dir "$dir")
    if [[ $ZERO_SHOT == 1 ]]; then
        launch "$dir" "${common[@]}" --eval-only
        return
    fi
    model_dir=$(xd_dir train "$XD_SOURCE" "$cfg" "$seed")
    local opts=${EXTRA_OPTS[*]:+ ${EXTRA_OPTS[*]}}
    require_complete "$model_dir" "$(dirname "$SCRIPT")/xd_train.sh $seed$opts"
    launch "$dir" "${common[@]}" --model-dir "$model_dir" --eval-only
}

fewshot_cfg() {  # fewshot_cfg DATASET SHOTS: the few-shot config (a settings.sh may redefine it)
    echo "$CFG_FEWSHOT"
}

fewshot_main() {
    ONE_RUN=1
    USAGE_ARGS="DATASET SHOTS SEED [KEY VALUE ...]"
    USAGE_ABOUT="Few-shot learning: train $TRAINER on all classes of DATASET with SHOTS images per
class, then test on its test set."
    USAGE_HELP="$(dataset_help "${BENCHMARK_DATASETS[@]}")
$SHOTS_HELP
$SEED_HELP
$OPTS_HELP
"
    USAGE_OUTPUT="\$OUTPUT/fewshot/DATASET/shots_SHOTS/$TRAINER/<cfg>/seed<SEED>"
    USAGE_CFG=$CFG_FEWSHOT
    take_flags "$@"
    check_nargs 3
    check_dataset "${POSITIONAL[0]}" "few-shot learning uses the 11 benchmark datasets" "${BENCHMARK_DATASETS[@]}"
    check_shots "${POSITIONAL[1]}"
    check_seed "${POSITIONAL[2]}"
    EXTRA_OPTS=("${POSITIONAL[@]:3}")
    local dataset=${POSITIONAL[0]} shots=${POSITIONAL[1]} seed=${POSITIONAL[2]} cfg dir
    cfg=$(config_file "$(fewshot_cfg "$dataset" "$shots")")
    dir="$OUTPUT/fewshot/$dataset/shots_$shots/$TRAINER/$(config_name "$cfg")/seed$seed"
    launch "$dir" --seed "$seed" --trainer "$TRAINER" \
        --dataset-config-file "configs/datasets/$dataset.yaml" --config-file "$cfg" --output-dir "$dir" \
        DATASET.NUM_SHOTS "$shots" "${FEWSHOT_OPTS[@]}"
}

# ------------------------------------------------------------------------------------------
# Sweeps: loop a per-run script over datasets, (shots,) seeds. --dry-run is passed on through
# the DRY_RUN variable. The first failing run stops the sweep; rerunning the sweep skips what
# is complete and resumes what is not.
# ------------------------------------------------------------------------------------------
SEEDS=()

parse_sweep_args() {  # parse_sweep_args ARGS...: [--dry-run] [SEEDS...]
    USAGE_ARGS="[SEEDS...]"
    USAGE_HELP="  SEEDS        positive integers (default: ${DEFAULT_SEEDS[*]})
"
    USAGE_CFG="the method's default (see the per-run scripts)"
    take_flags "$@"
    local seed
    for seed in "${POSITIONAL[@]}"; do check_seed "$seed"; done
    if ((${#POSITIONAL[@]})); then SEEDS=("${POSITIONAL[@]}"); else SEEDS=("${DEFAULT_SEEDS[@]}"); fi
}

sweep_step() {  # sweep_step LABEL SCRIPT ARGS...
    local label=$1
    shift
    echo "== $label"
    "$SCRIPT_DIR/$1" "${@:2}"
}

base2new_all_main() {
    USAGE_ABOUT="Base-to-new sweep: base2new_train.sh then base2new_test.sh for the 11 datasets x SEEDS."
    USAGE_OUTPUT="\$OUTPUT/base2new/{train_base,test_new}/..."
    parse_sweep_args "$@"
    local dataset seed
    for dataset in "${BENCHMARK_DATASETS[@]}"; do
        for seed in "${SEEDS[@]}"; do
            sweep_step "$dataset seed $seed: base classes" base2new_train.sh "$dataset" "$seed"
            sweep_step "$dataset seed $seed: new classes" base2new_test.sh "$dataset" "$seed"
        done
    done
}

xd_all_main() {
    USAGE_ABOUT="Cross-dataset and domain-generalisation sweep: for each seed, xd_train.sh on ImageNet,
then xd_test.sh on the 10 other datasets and the 4 ImageNet variants."
    USAGE_OUTPUT="\$OUTPUT/xd/{train,test}/..."
    parse_sweep_args "$@"
    local dataset seed
    for seed in "${SEEDS[@]}"; do
        sweep_step "imagenet seed $seed: source" xd_train.sh "$seed"
        for dataset in "${XD_TARGETS[@]}" "${DG_TARGETS[@]}"; do
            sweep_step "$dataset seed $seed: target" xd_test.sh "$dataset" "$seed"
        done
    done
}

fewshot_all_main() {
    USAGE_ABOUT="Few-shot sweep: fewshot.sh for the 11 datasets x shots ${ALL_SHOTS[*]} x SEEDS."
    USAGE_OUTPUT="\$OUTPUT/fewshot/..."
    parse_sweep_args "$@"
    local dataset shots seed
    for dataset in "${BENCHMARK_DATASETS[@]}"; do
        for shots in "${ALL_SHOTS[@]}"; do
            for seed in "${SEEDS[@]}"; do
                sweep_step "$dataset $shots shots seed $seed" fewshot.sh "$dataset" "$shots" "$seed"
            done
        done
    done
}
