# shellcheck shell=bash
# Zero-shot CLIP (arXiv 2103.00020) with CoOp's hand-crafted prompts: evaluation only. Sourced.
TRAINER=ZeroshotCLIP
ZERO_SHOT=1
CFG_BASE2NEW=configs/trainers/CoOp/vit_b16.yaml
CFG_BASE2NEW_IMAGENET=""
CFG_XD=configs/trainers/CoOp/vit_b16.yaml
CFG_FEWSHOT=""
FEWSHOT_OPTS=()
