# shellcheck shell=bash
# MuDPT (arXiv 2306.11400): trainer and configs of its protocol scripts. Sourced.
TRAINER=MuDPT
ZERO_SHOT=0
CFG_BASE2NEW=configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml
CFG_BASE2NEW_IMAGENET=""
CFG_XD=configs/trainers/MuDPT/vit_b16_c2_ep5_batch4_depth9_xd.yaml
CFG_FEWSHOT=configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9_fewshot.yaml
FEWSHOT_OPTS=()
