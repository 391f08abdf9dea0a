"""Default configuration tree of the built-in engine.

The engine follows the Dassl.pytorch API (the substrate of CoOp, CoCoOp, MaPLe and
MuDPT, arXiv 2306.11400), so its defaults are the Dassl defaults key for key: same
names, same values, same Python types. That keeps three things working:

* every CoOp-family yaml file merges unchanged (yacs rejects keys that are not in
  the tree and checks each override against the type of its default, so a tuple
  must stay a tuple and a float must stay a float);
* ``print(cfg)`` in log.txt reads the same as under real Dassl, including the
  domain-adaptation, domain-generalisation and semi-supervised trainer nodes that
  no CLIP trainer reads;
* a user who has real Dassl installed gets the same behaviour from either engine.

Trainer-specific nodes (``TRAINER.COOP``, ``TRAINER.MUDPT``, ...) and the keys the
CoOp-family repos add (``DATASET.SUBSAMPLE_CLASSES``, ...) are not defined here;
``train.py`` adds them before merging any yaml, exactly as with real Dassl.
"""

from yacs.config import CfgNode

# ImageNet channel statistics; the Dassl default normalisation. CLIP configs
# override them with CLIP's own statistics.
_IMAGENET_PIXEL_MEAN = [0.485, 0.456, 0.406]
_IMAGENET_PIXEL_STD = [0.229, 0.224, 0.225]


def _input_node() -> CfgNode:
    """Image size, interpolation, augmentation list and per-augmentation settings."""
    node = CfgNode()
    # (height, width) that images are resized to; CLIP trainers require it to
    # equal the visual encoder's input resolution.
    node.SIZE = (224, 224)
    # Resampling filter used by every resize ("bilinear", "bicubic", "nearest").
    node.INTERPOLATION = "bilinear"
    # Names of the training augmentations, applied in order; empty = resize only.
    node.TRANSFORMS = ()
    # Skip building transforms altogether (datasets then return raw images).
    node.NO_TRANSFORM = False
    # Normalisation applied by the "normalize" transform.
    node.PIXEL_MEAN = list(_IMAGENET_PIXEL_MEAN)
    node.PIXEL_STD = list(_IMAGENET_PIXEL_STD)

    # Settings read only when the matching augmentation is listed in TRANSFORMS.
    # "random_crop": zero padding added on each side before cropping.
    node.CROP_PADDING = 4
    # "random_resized_crop": (min, max) fraction of the image area kept.
    node.RRCROP_SCALE = (0.08, 1.0)
    # "cutout": how many square holes and their side length in pixels.
    node.CUTOUT_N = 1
    node.CUTOUT_LEN = 16
    # "gaussian_noise": mean and standard deviation of the added noise.
    node.GN_MEAN = 0.0
    node.GN_STD = 0.15
    # "randaugment*": number of operations and their magnitude.
    node.RANDAUGMENT_N = 2
    node.RANDAUGMENT_M = 10
    # "colorjitter": brightness, contrast, saturation and hue strength.
    node.COLORJITTER_B = 0.4
    node.COLORJITTER_C = 0.4
    node.COLORJITTER_S = 0.4
    node.COLORJITTER_H = 0.1
    # "random_gray_scale": probability of converting to grey.
    node.RGS_P = 0.2
    # "gaussian_blur": probability of blurring and the (odd) kernel size.
    node.GB_P = 0.5
    node.GB_K = 21
    return node


def _dataset_node() -> CfgNode:
    """Which dataset to read, from where, and how much of it."""
    node = CfgNode()
    # Folder that holds all dataset folders.
    node.ROOT = ""
    # Registered dataset class name, e.g. "EuroSAT" or "ImageNet".
    node.NAME = ""
    # Domain names for multi-domain datasets; benchmarks with fixed splits ignore
    # them. The data manager counts SOURCE_DOMAINS to get the number of domains.
    node.SOURCE_DOMAINS = ()
    node.TARGET_DOMAINS = ()
    # Semi-supervised datasets: total number of labelled images (-1 = all).
    node.NUM_LABELED = -1
    # Few-shot training images per class (-1 = the full training set).
    node.NUM_SHOTS = -1
    # Semi-supervised datasets: fraction of training data held out for validation.
    node.VAL_PERCENT = 0.1
    # STL-10 only: which of the ten predefined folds to train on (negative = none).
    node.STL10_FOLD = -1
    # CIFAR-10-C/100-C only: corruption name and severity level.
    node.CIFAR_C_TYPE = ""
    node.CIFAR_C_LEVEL = 1
    # Semi-supervised datasets: also put the labelled images into the unlabelled set.
    node.ALL_AS_UNLABELED = False
    return node


def _loader_node(sampler: str) -> CfgNode:
    """Sampler and batch size of one data loader."""
    node = CfgNode()
    # Registered sampler class name.
    node.SAMPLER = sampler
    node.BATCH_SIZE = 32
    return node


def _dataloader_node() -> CfgNode:
    """Worker count and the three data loaders (labelled, unlabelled, test)."""
    node = CfgNode()
    # Background processes that decode images.
    node.NUM_WORKERS = 4
    # How many augmented views of each training image a batch carries.
    node.K_TRANSFORMS = 1
    # Also return the un-augmented image (used by consistency-based methods).
    node.RETURN_IMG0 = False

    # Labelled training loader.
    node.TRAIN_X = _loader_node("RandomSampler")
    # Domains drawn per batch by RandomDomainSampler (0 or -1 = every domain).
    node.TRAIN_X.N_DOMAIN = 0
    # Images drawn per class by RandomClassSampler.
    node.TRAIN_X.N_INS = 16

    # Unlabelled training loader (domain adaptation and semi-supervised methods).
    node.TRAIN_U = CfgNode()
    # Reuse the TRAIN_X settings; set False to use the values below instead.
    node.TRAIN_U.SAME_AS_X = True
    node.TRAIN_U.SAMPLER = "RandomSampler"
    node.TRAIN_U.BATCH_SIZE = 32
    node.TRAIN_U.N_DOMAIN = 0
    node.TRAIN_U.N_INS = 16

    # Validation and test loader.
    node.TEST = _loader_node("SequentialSampler")
    return node


def _model_node() -> CfgNode:
    """Weights to start from, backbone and optional embedding head."""
    node = CfgNode()
    # Checkpoint file whose weights initialise the learnable part ("" = none).
    node.INIT_WEIGHTS = ""

    node.BACKBONE = CfgNode()
    # Backbone name; CLIP trainers use it as the CLIP model name, e.g. "ViT-B/16".
    node.BACKBONE.NAME = ""
    # Start the backbone from pretrained weights (CLIP trainers always do).
    node.BACKBONE.PRETRAINED = True

    # Optional MLP between backbone and classifier ("" = features go straight on).
    node.HEAD = CfgNode()
    node.HEAD.NAME = ""
    # Width of each hidden layer, e.g. (512, 512).
    node.HEAD.HIDDEN_LAYERS = ()
    node.HEAD.ACTIVATION = "relu"
    # Batch norm after each hidden layer.
    node.HEAD.BN = True
    node.HEAD.DROPOUT = 0.0
    return node


def _optim_node() -> CfgNode:
    """Optimiser, learning-rate schedule and warmup."""
    node = CfgNode()
    # Optimiser name ("adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw").
    node.NAME = "adam"
    node.LR = 0.0003
    node.WEIGHT_DECAY = 5e-4
    node.MOMENTUM = 0.9
    # SGD dampening; the key's spelling is Dassl's and yaml files depend on it.
    node.SGD_DAMPNING = 0
    node.SGD_NESTEROV = False
    node.RMSPROP_ALPHA = 0.99
    # Betas of Adam and of the other adaptive optimisers (AMSGrad, AdamW, RAdam).
    node.ADAM_BETA1 = 0.9
    node.ADAM_BETA2 = 0.999

    # Give the layers named in NEW_LAYERS the full LR and all other layers
    # LR * BASE_LR_MULT (typically a fresh head on a pretrained backbone).
    node.STAGED_LR = False
    node.NEW_LAYERS = ()
    node.BASE_LR_MULT = 0.1

    # Schedule name ("single_step", "multi_step", "cosine").
    node.LR_SCHEDULER = "single_step"
    # Epochs at which the LR decays; -1 or 0 means MAX_EPOCH.
    node.STEPSIZE = (-1,)
    # Decay factor applied at each step.
    node.GAMMA = 0.1
    node.MAX_EPOCH = 10

    # Warmup epochs before the schedule starts (values <= 0 disable warmup).
    node.WARMUP_EPOCH = -1
    # "constant" holds WARMUP_CONS_LR; "linear" ramps up from WARMUP_MIN_LR.
    node.WARMUP_TYPE = "linear"
    node.WARMUP_CONS_LR = 1e-5
    node.WARMUP_MIN_LR = 1e-5
    # After warmup, start the schedule from epoch 0 (True) or continue counting
    # from the warmup length (False).
    node.WARMUP_RECOUNT = True
    return node


def _train_node() -> CfgNode:
    """Checkpointing and logging during training."""
    node = CfgNode()
    # Save a checkpoint every this many epochs; <= 0 keeps only the final one.
    node.CHECKPOINT_FREQ = 0
    # Print a progress line every this many batches.
    node.PRINT_FREQ = 10
    # Which loader sets the batches per epoch when two are used: "train_x",
    # "train_u" or "smaller_one".
    node.COUNT_ITER = "train_x"
    return node


def _test_node() -> CfgNode:
    """Evaluation after (and optionally during) training."""
    node = CfgNode()
    # Registered evaluator class name.
    node.EVALUATOR = "Classification"
    # Also report accuracy for each class.
    node.PER_CLASS_RESULT = False
    # Save the confusion matrix to OUTPUT_DIR/cmat.pt.
    node.COMPUTE_CMAT = False
    # Skip the final evaluation.
    node.NO_TEST = False
    # Split used for the final evaluation ("test" or "val").
    node.SPLIT = "test"
    # Weights evaluated at the end: "last_step", or "best_val" (which validates
    # every epoch, on the test split when there is no validation split).
    node.FINAL_MODEL = "last_step"
    return node


def _domain_adaptation_trainers(trainer: CfgNode) -> None:
    """Settings of Dassl's domain-adaptation trainers (unused by CLIP methods)."""
    # MCD: generator updates per step.
    trainer.MCD = CfgNode()
    trainer.MCD.N_STEP_F = 4

    # MME: weight of the entropy term.
    trainer.MME = CfgNode()
    trainer.MME.LMDA = 0.1

    # CDAC: classifier LR multiplier, ramp-up schedule, top-k pairing, pseudo-label threshold.
    trainer.CDAC = CfgNode()
    trainer.CDAC.CLASS_LR_MULTI = 10
    trainer.CDAC.RAMPUP_COEF = 30
    trainer.CDAC.RAMPUP_ITRS = 1000
    trainer.CDAC.TOPK_MATCH = 5
    trainer.CDAC.P_THRESH = 0.95
    trainer.CDAC.STRONG_TRANSFORMS = ()

    # Self-ensembling: teacher EMA rate, confidence threshold, ramp-up length.
    trainer.SE = CfgNode()
    trainer.SE.EMA_ALPHA = 0.999
    trainer.SE.CONF_THRE = 0.95
    trainer.SE.RAMPUP = 300

    # M3SDA: weight of the moment-matching term, generator updates per step.
    trainer.M3SDA = CfgNode()
    trainer.M3SDA.LMDA = 0.5
    trainer.M3SDA.N_STEP_F = 4

    # DAEL: weight of the unlabelled loss, confidence threshold, strong augmentations.
    trainer.DAEL = CfgNode()
    trainer.DAEL.WEIGHT_U = 0.5
    trainer.DAEL.CONF_THRE = 0.95
    trainer.DAEL.STRONG_TRANSFORMS = ()


def _domain_generalisation_trainers(trainer: CfgNode) -> None:
    """Settings of Dassl's domain-generalisation trainers (unused by CLIP methods)."""
    # CrossGrad: perturbation scales and loss weights of the label and domain nets.
    trainer.CROSSGRAD = CfgNode()
    trainer.CROSSGRAD.EPS_F = 1.0
    trainer.CROSSGRAD.EPS_D = 1.0
    trainer.CROSSGRAD.ALPHA_F = 0.5
    trainer.CROSSGRAD.ALPHA_D = 0.5

    # DDAIG: generator architecture, perturbation weight and clamping, warmup, loss balance.
    trainer.DDAIG = CfgNode()
    trainer.DDAIG.G_ARCH = ""
    trainer.DDAIG.LMDA = 0.3
    trainer.DDAIG.CLAMP = False
    trainer.DDAIG.CLAMP_MIN = -1.0
    trainer.DDAIG.CLAMP_MAX = 1.0
    trainer.DDAIG.WARMUP = 0
    trainer.DDAIG.ALPHA = 0.5

    # DAEL for domain generalisation: same settings as the adaptation variant.
    trainer.DAELDG = CfgNode()
    trainer.DAELDG.WEIGHT_U = 0.5
    trainer.DAELDG.CONF_THRE = 0.95
    trainer.DAELDG.STRONG_TRANSFORMS = ()

    # DomainMix: mixing mode and the Beta(ALPHA, BETA) mixing distribution.
    trainer.DOMAINMIX = CfgNode()
    trainer.DOMAINMIX.TYPE = "crossdomain"
    trainer.DOMAINMIX.ALPHA = 1.0
    trainer.DOMAINMIX.BETA = 1.0


def _semi_supervised_trainers(trainer: CfgNode) -> None:
    """Settings of Dassl's semi-supervised trainers (unused by CLIP methods)."""
    # Entropy minimisation: weight of the entropy term.
    trainer.ENTMIN = CfgNode()
    trainer.ENTMIN.LMDA = 1e-3

    # Mean Teacher: unlabelled-loss weight, teacher EMA rate, ramp-up epochs.
    trainer.MEANTEACHER = CfgNode()
    trainer.MEANTEACHER.WEIGHT_U = 1.0
    trainer.MEANTEACHER.EMA_ALPHA = 0.999
    trainer.MEANTEACHER.RAMPUP = 5

    # MixMatch: unlabelled-loss weight, sharpening temperature, mixup Beta, ramp-up steps.
    trainer.MIXMATCH = CfgNode()
    trainer.MIXMATCH.WEIGHT_U = 100.0
    trainer.MIXMATCH.TEMP = 2.0
    trainer.MIXMATCH.MIXUP_BETA = 0.75
    trainer.MIXMATCH.RAMPUP = 20000

    # FixMatch: unlabelled-loss weight, pseudo-label threshold, strong augmentations.
    trainer.FIXMATCH = CfgNode()
    trainer.FIXMATCH.WEIGHT_U = 1.0
    trainer.FIXMATCH.CONF_THRE = 0.95
    trainer.FIXMATCH.STRONG_TRANSFORMS = ()


def _trainer_node() -> CfgNode:
    """Trainer choice plus the settings of Dassl's own (non-CLIP) trainers."""
    node = CfgNode()
    # Registered trainer class name, e.g. "CoOp" or "MuDPT".
    node.NAME = ""
    # Kept so that merged yaml files and the printed config match real Dassl.
    _domain_adaptation_trainers(node)
    _domain_generalisation_trainers(node)
    _semi_supervised_trainers(node)
    return node


def _build_defaults() -> CfgNode:
    """Assemble the full defaults tree, top-level keys first."""
    cfg = CfgNode()
    # Version of the config layout.
    cfg.VERSION = 1
    # Where log.txt, checkpoints and results are written.
    cfg.OUTPUT_DIR = "./output"
    # Output folder of an earlier run to resume from ("" = start fresh).
    cfg.RESUME = ""
    # Random seed; a negative value leaves every RNG unseeded.
    cfg.SEED = -1
    # Use the GPU when one is available; False forces the CPU.
    cfg.USE_CUDA = True
    # Print what is being built (trainer, dataset, evaluator, dataset table).
    cfg.VERBOSE = True

    cfg.INPUT = _input_node()
    cfg.DATASET = _dataset_node()
    cfg.DATALOADER = _dataloader_node()
    cfg.MODEL = _model_node()
    cfg.OPTIM = _optim_node()
    cfg.TRAIN = _train_node()
    cfg.TEST = _test_node()
    cfg.TRAINER = _trainer_node()
    return cfg


_DEFAULTS = _build_defaults()


def get_cfg_default() -> CfgNode:
    """Return a fresh, mutable copy of the default configuration.

    Each call returns an independent tree, so callers can extend, merge and
    freeze it without affecting later calls.
    """
    return _DEFAULTS.clone()
