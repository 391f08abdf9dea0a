# shellcheck shell=bash
# CoOp (arXiv 2109.01134): trainer and configs of its protocol scripts. Sourced.
TRAINER=CoOp
ZERO_SHOT=0
# Base-to-new and cross-dataset configs as in CoCoOp's scripts (ImageNet trains for 50 epochs).
CFG_BASE2NEW=configs/trainers/CoOp/vit_b16_ctxv1.yaml
CFG_BASE2NEW_IMAGENET=configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml
CFG_XD=configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml
# Few-shot as in CoOp's scripts/coop/main.sh with 16 learnable context tokens.
CFG_FEWSHOT=configs/trainers/CoOp/vit_b16_ep50.yaml
FEWSHOT_OPTS=(TRAINER.COOP.N_CTX 16)
