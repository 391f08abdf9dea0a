# shellcheck shell=bash
# CoOp (arXiv 2109.01134): trainer and configs of its protocol scripts. Sourced.
TRAINER=CoOp
ZERO_SHOT=0
# Base-to-new and cross-dataset configs as in CoCoOp's scripts (ImageNet trains for 50 epochs).
CFG_BASE2NEW=configs/trainers/CoOp/vit_b16_ctxv1.yaml
CFG_BASE2NEW_IMAGENET=configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml
CFG_XD=configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml
# Few-shot as in CoOp's paper and scripts/coop/main.sh, 16 learnable context tokens, and the
# epochs by shots: 200 for 8/16 shots, 100 for 2/4, 50 for 1 shot and for ImageNet.
CFG_FEWSHOT="CoOp/vit_b16 (8 or 16 shots), CoOp/vit_b16_ep100 (2 or 4), CoOp/vit_b16_ep50 (1 shot; ImageNet)"
FEWSHOT_OPTS=(TRAINER.COOP.N_CTX 16)

fewshot_cfg() {  # fewshot_cfg DATASET SHOTS
    if [[ $1 == imagenet || $2 == 1 ]]; then
        echo configs/trainers/CoOp/vit_b16_ep50.yaml
    elif [[ $2 == 2 || $2 == 4 ]]; then
        echo configs/trainers/CoOp/vit_b16_ep100.yaml
    else
        echo configs/trainers/CoOp/vit_b16.yaml
    fi
}
