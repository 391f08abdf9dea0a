# shellcheck shell=bash
# CoCoOp (arXiv 2203.05557): trainer and configs of its protocol scripts. Sourced.
TRAINER=CoCoOp
ZERO_SHOT=0
CFG_BASE2NEW=configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml
CFG_BASE2NEW_IMAGENET=""
CFG_XD=configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml
CFG_FEWSHOT=""
FEWSHOT_OPTS=()
