"""Facts about the 15 benchmarks of the CoOp family: folders, split files, counts, sources.

One table that the readers, the data check (``python -m datasets.check``), the download
helper (``python -m datasets.download``) and DATASETS.md all follow. Folder names, file names
and counts are those of CoOp's DATASETS.md and of the CoOp paper's dataset table (Zhou et al.,
"Learning to Prompt for Vision-Language Models", arXiv 2109.01134); checksums are the ones
torchvision, TensorFlow Datasets and other public loaders publish for the same archives.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Artifact",
    "Checksum",
    "DatasetSpec",
    "SPECS",
    "DATASET_NAMES",
    "spec_for",
]

# Google Drive files that CoOp's DATASETS.md links to (split files, ImageNet class names, ...).
GDRIVE = "gdrive:"


@dataclass(frozen=True)
class Checksum:
    """A published digest of a downloadable file.

    Args:
        algorithm: "md5" or "sha256".
        digest: lower-case hex digest.
        source: who publishes it (the loader whose code lists it), for DATASETS.md.
    """

    algorithm: str
    digest: str
    source: str


@dataclass(frozen=True)
class Artifact:
    """One downloadable file and where it ends up under the data root.

    Args:
        description: what it is, for messages ("split file", "images archive").
        filename: the file's name as downloaded (the download helper looks for it in the
            download folder, the data root and the dataset folder before fetching it).
        urls: sources tried in order; ``gdrive:<id>`` is a Google Drive file id (fetched with gdown).
        target: path relative to the data root whose existence means "already in place".
        checksums: published digests of the file (it must match one of them); every archive
            has one except CoOp's UCF-101-midframes.zip, whose content the data check verifies.
        unpack: for archives, (path inside the extracted archive, destination relative to the
            data root) pairs; ``None`` for plain files, which are moved to ``target``.
        kind: "metadata" (small files) or "images" (big archives).
        verify: name of a content check for small files ("split", "classnames", "cat_to_name").
        note: extra advice printed with the manual instructions.
    """

    description: str
    filename: str
    urls: tuple[str, ...]
    target: str
    checksums: tuple[Checksum, ...] = ()
    unpack: tuple[tuple[str, str], ...] | None = None
    kind: str = "metadata"
    verify: str | None = None
    note: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """Layout and published size of one benchmark.

    Args:
        name: the registered reader name (``DATASET.NAME``).
        config: stem of ``configs/datasets/<config>.yaml``.
        folder: the dataset folder under ``DATASET.ROOT`` (CoOp's name).
        image_subdir: image folder inside ``folder``; split paths are relative to it ("" = the
            dataset folder itself, as for StanfordCars).
        split_file: CoOp's split file name, or None where CoOp uses none.
        num_classes: classes in the benchmark.
        counts: published images per split; ImageNet evaluates on its val set (test = val),
            the four ImageNet variants only have a test set.
        test_only: the ImageNet variants (evaluation only).
        layout: the expected tree, for messages and DATASETS.md.
        metadata: files (relative to ``folder``) the reader needs to create a split when the
            split file is absent (or always, for FGVCAircraft and the ImageNet family).
        artifacts: what the download helper fetches.
        manual: how to get the images by hand when there is no public download.
    """

    name: str
    config: str
    folder: str
    image_subdir: str
    split_file: str | None
    num_classes: int
    counts: dict[str, int]
    test_only: bool = False
    layout: str = ""
    metadata: tuple[str, ...] = ()
    artifacts: tuple[Artifact, ...] = field(default_factory=tuple)
    manual: str = ""

    @property
    def image_dir_rel(self) -> str:
        """The image folder relative to the data root."""
        return f"{self.folder}/{self.image_subdir}" if self.image_subdir else self.folder


def _split_artifact(folder: str, split_file: str, gdrive_id: str) -> Artifact:
    return Artifact(
        description="split file (CoOp's fixed train/val/test split)",
        filename=split_file,
        urls=(GDRIVE + gdrive_id,),
        target=f"{folder}/{split_file}",
        verify="split",
    )


# CoOp's ImageNet class names (``wnid name`` per line, the CLIP names), shared by the variants.
_IMAGENET_CLASSNAMES_ID = "1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"


def _classnames_artifact(folder: str) -> Artifact:
    return Artifact(
        description="classnames.txt (1000 lines `wnid class name`, CoOp's CLIP class names)",
        filename="classnames.txt",
        urls=(GDRIVE + _IMAGENET_CLASSNAMES_ID,),
        target=f"{folder}/classnames.txt",
        verify="classnames",
        note="the same file as DATA/imagenet/classnames.txt: copying that one works too",
    )


_SPECS = (
    DatasetSpec(
        name="ImageNet",
        config="imagenet",
        folder="imagenet",
        image_subdir="images",
        split_file=None,
        num_classes=1000,
        counts={"train": 1_281_167, "test": 50_000},
        layout=(
            "imagenet/\n"
            "  classnames.txt          1000 lines `wnid class name`\n"
            "  images/train/<wnid>/*.JPEG   1000 class folders\n"
            "  images/val/<wnid>/*.JPEG     1000 class folders (the val set is the test set)"
        ),
        metadata=("classnames.txt",),
        artifacts=(_classnames_artifact("imagenet"),),
        manual=(
            "ImageNet (ILSVRC2012) needs an account: download ILSVRC2012_img_train.tar and "
            "ILSVRC2012_img_val.tar from https://image-net.org/download-images, extract the train "
            "set into DATA/imagenet/images/train/<wnid>/ and the val set into "
            "DATA/imagenet/images/val/<wnid>/ (a symbolic link to an existing copy is fine). "
            "The val tar is flat: sort it into class folders with `python -m datasets.download "
            "--root DATA --sort-imagenet-val LABELS`, LABELS being ILSVRC2012_devkit_t12.tar.gz "
            "or Kaggle's LOC_val_solution.csv."
        ),
    ),
    DatasetSpec(
        name="Caltech101",
        config="caltech101",
        folder="caltech-101",
        image_subdir="101_ObjectCategories",
        split_file="split_zhou_Caltech101.json",
        num_classes=100,
        counts={"train": 4128, "val": 1649, "test": 2465},
        layout=(
            "caltech-101/\n"
            "  101_ObjectCategories/<class>/image_*.jpg\n"
            "  split_zhou_Caltech101.json"
        ),
        artifacts=(
            _split_artifact("caltech-101", "split_zhou_Caltech101.json", "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN"),
            Artifact(
                description="images archive",
                filename="101_ObjectCategories.tar.gz",
                urls=(GDRIVE + "137RyRjvTBkBiIfeYBNZBtViDHQ6_Ewsp",),
                target="caltech-101/101_ObjectCategories",
                checksums=(Checksum("md5", "b224c7392d521a49829488ab0f1120d9", "torchvision (datasets.Caltech101)"),),
                unpack=(("101_ObjectCategories", "caltech-101/101_ObjectCategories"),),
                kind="images",
                note=(
                    "another source: https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip "
                    "holds caltech-101/101_ObjectCategories.tar.gz"
                ),
            ),
        ),
    ),
    DatasetSpec(
        name="OxfordPets",
        config="oxford_pets",
        folder="oxford_pets",
        image_subdir="images",
        split_file="split_zhou_OxfordPets.json",
        num_classes=37,
        counts={"train": 2944, "val": 736, "test": 3669},
        layout=(
            "oxford_pets/\n"
            "  images/*.jpg\n"
            "  annotations/trainval.txt, test.txt   (only needed without the split file)\n"
            "  split_zhou_OxfordPets.json"
        ),
        metadata=("annotations/trainval.txt", "annotations/test.txt"),
        artifacts=(
            _split_artifact("oxford_pets", "split_zhou_OxfordPets.json", "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"),
            Artifact(
                description="images archive",
                filename="images.tar.gz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",),
                target="oxford_pets/images",
                checksums=(Checksum("md5", "5c4f3ee8e5d25df40f4fd59a7f44e54c", "torchvision (datasets.OxfordIIITPet)"),),
                unpack=(("images", "oxford_pets/images"),),
                kind="images",
            ),
            Artifact(
                description="annotations archive",
                filename="annotations.tar.gz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",),
                target="oxford_pets/annotations",
                checksums=(Checksum("md5", "95a8c909bbe2e81eed6a22bccdf3f68f", "torchvision (datasets.OxfordIIITPet)"),),
                unpack=(("annotations", "oxford_pets/annotations"),),
                kind="images",
            ),
        ),
    ),
    DatasetSpec(
        name="StanfordCars",
        config="stanford_cars",
        folder="stanford_cars",
        image_subdir="",
        split_file="split_zhou_StanfordCars.json",
        num_classes=196,
        counts={"train": 6509, "val": 1635, "test": 8041},
        layout=(
            "stanford_cars/\n"
            "  cars_train/*.jpg\n"
            "  cars_test/*.jpg\n"
            "  devkit/cars_meta.mat, devkit/cars_train_annos.mat   (only needed without the split file)\n"
            "  cars_test_annos_withlabels.mat                       (only needed without the split file)\n"
            "  split_zhou_StanfordCars.json"
        ),
        metadata=("devkit/cars_meta.mat", "devkit/cars_train_annos.mat", "cars_test_annos_withlabels.mat"),
        artifacts=(
            _split_artifact("stanford_cars", "split_zhou_StanfordCars.json", "1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT"),
            Artifact(
                description="train images archive",
                filename="cars_train.tgz",
                urls=("https://ai.stanford.edu/~jkrause/car196/cars_train.tgz",),
                target="stanford_cars/cars_train",
                checksums=(Checksum("md5", "065e5b463ae28d29e77c1b4b166cfe61", "torchvision (datasets.StanfordCars)"),),
                unpack=(("cars_train", "stanford_cars/cars_train"),),
                kind="images",
                note="the Stanford host has been offline for years: take the same archive from a mirror",
            ),
            Artifact(
                description="test images archive",
                filename="cars_test.tgz",
                urls=("https://ai.stanford.edu/~jkrause/car196/cars_test.tgz",),
                target="stanford_cars/cars_test",
                checksums=(Checksum("md5", "4ce7ebf6a94d07f1952d94dd34c4d501", "torchvision (datasets.StanfordCars)"),),
                unpack=(("cars_test", "stanford_cars/cars_test"),),
                kind="images",
                note="the Stanford host has been offline for years: take the same archive from a mirror",
            ),
            Artifact(
                description="devkit (train labels and class names)",
                filename="car_devkit.tgz",
                urls=("https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz",),
                target="stanford_cars/devkit",
                checksums=(Checksum("md5", "c3b158d763b6e2245038c8ad08e45376", "torchvision (datasets.StanfordCars)"),),
                unpack=(("devkit", "stanford_cars/devkit"),),
                kind="metadata",
                note="only needed without the split file",
            ),
            Artifact(
                description="test labels",
                filename="cars_test_annos_withlabels.mat",
                urls=("https://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat",),
                target="stanford_cars/cars_test_annos_withlabels.mat",
                checksums=(Checksum("md5", "b0a2b23655a3edd16d84508592a98d10", "torchvision (datasets.StanfordCars)"),),
                kind="metadata",
                note="only needed without the split file",
            ),
        ),
    ),
    DatasetSpec(
        name="OxfordFlowers",
        config="oxford_flowers",
        folder="oxford_flowers",
        image_subdir="jpg",
        split_file="split_zhou_OxfordFlowers.json",
        num_classes=102,
        counts={"train": 4093, "val": 1633, "test": 2463},
        layout=(
            "oxford_flowers/\n"
            "  jpg/image_*.jpg\n"
            "  imagelabels.mat, cat_to_name.json   (only needed without the split file)\n"
            "  split_zhou_OxfordFlowers.json"
        ),
        metadata=("imagelabels.mat", "cat_to_name.json"),
        artifacts=(
            _split_artifact("oxford_flowers", "split_zhou_OxfordFlowers.json", "1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT"),
            Artifact(
                description="class names (cat_to_name.json)",
                filename="cat_to_name.json",
                urls=(GDRIVE + "1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0",),
                target="oxford_flowers/cat_to_name.json",
                verify="cat_to_name",
            ),
            Artifact(
                description="images archive",
                filename="102flowers.tgz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",),
                target="oxford_flowers/jpg",
                checksums=(Checksum("md5", "52808999861908f626f3c1f4e79d11fa", "torchvision (datasets.Flowers102)"),),
                unpack=(("jpg", "oxford_flowers/jpg"),),
                kind="images",
            ),
            Artifact(
                description="labels (imagelabels.mat)",
                filename="imagelabels.mat",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",),
                target="oxford_flowers/imagelabels.mat",
                checksums=(Checksum("md5", "e0620be6f572b9609742df49c70aed4d", "torchvision (datasets.Flowers102)"),),
            ),
        ),
    ),
    DatasetSpec(
        name="Food101",
        config="food101",
        folder="food-101",
        image_subdir="images",
        split_file="split_zhou_Food101.json",
        num_classes=101,
        counts={"train": 50_500, "val": 20_200, "test": 30_300},
        layout=(
            "food-101/\n"
            "  images/<class>/*.jpg\n"
            "  split_zhou_Food101.json"
        ),
        artifacts=(
            _split_artifact("food-101", "split_zhou_Food101.json", "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"),
            Artifact(
                description="images archive (5 GB)",
                filename="food-101.tar.gz",
                urls=("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",),
                target="food-101/images",
                checksums=(Checksum("md5", "85eeb15f3717b99a5da872d97d918f87", "torchvision (datasets.Food101)"),),
                unpack=(("food-101", "food-101"),),
                kind="images",
            ),
        ),
    ),
    DatasetSpec(
        name="FGVCAircraft",
        config="fgvc_aircraft",
        folder="fgvc_aircraft",
        image_subdir="images",
        split_file=None,
        num_classes=100,
        counts={"train": 3334, "val": 3333, "test": 3333},
        layout=(
            "fgvc_aircraft/               (the data/ folder of fgvc-aircraft-2013b, renamed)\n"
            "  images/*.jpg\n"
            "  variants.txt\n"
            "  images_variant_train.txt, images_variant_val.txt, images_variant_test.txt"
        ),
        metadata=(
            "variants.txt",
            "images_variant_train.txt",
            "images_variant_val.txt",
            "images_variant_test.txt",
        ),
        artifacts=(
            Artifact(
                description="dataset archive (2.6 GB)",
                filename="fgvc-aircraft-2013b.tar.gz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",),
                target="fgvc_aircraft/images",
                checksums=(Checksum("md5", "d4acdd33327262359767eeaa97a4f732", "google-deepmind/dm_nevis (fgvc_aircraft handler)"),),
                unpack=(("fgvc-aircraft-2013b/data", "fgvc_aircraft"),),
                kind="images",
            ),
        ),
    ),
    DatasetSpec(
        name="SUN397",
        config="sun397",
        folder="sun397",
        image_subdir="SUN397",
        split_file="split_zhou_SUN397.json",
        num_classes=397,
        counts={"train": 15_880, "val": 3970, "test": 19_850},
        layout=(
            "sun397/\n"
            "  SUN397/<letter>/<class>[/<sub>]/*.jpg\n"
            "  ClassName.txt, Training_01.txt, Testing_01.txt   (only needed without the split file)\n"
            "  split_zhou_SUN397.json"
        ),
        metadata=("ClassName.txt", "Training_01.txt", "Testing_01.txt"),
        artifacts=(
            _split_artifact("sun397", "split_zhou_SUN397.json", "1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq"),
            Artifact(
                description="images archive (37 GB)",
                filename="SUN397.tar.gz",
                urls=("http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz",),
                target="sun397/SUN397",
                checksums=(Checksum("md5", "8ca2778205c41d23104230ba66911c7a", "torchvision (datasets.SUN397)"),),
                unpack=(("SUN397", "sun397/SUN397"),),
                kind="images",
            ),
            Artifact(
                description="official partitions (ClassName.txt, Training_01.txt, Testing_01.txt)",
                filename="Partitions.zip",
                urls=("https://vision.princeton.edu/projects/2010/SUN/download/Partitions.zip",),
                target="sun397/ClassName.txt",
                checksums=(
                    Checksum(
                        "sha256",
                        "e3311ea5f812d4cc6faef194688343d1111f6cd6f70f2c62f393c2b8d6ba1ec9",
                        "TensorFlow Datasets (sun397 checksums.tsv)",
                    ),
                ),
                unpack=(
                    ("ClassName.txt", "sun397/ClassName.txt"),
                    ("Training_01.txt", "sun397/Training_01.txt"),
                    ("Testing_01.txt", "sun397/Testing_01.txt"),
                ),
                note="only needed without the split file",
            ),
        ),
    ),
    DatasetSpec(
        name="DescribableTextures",
        config="dtd",
        folder="dtd",
        image_subdir="images",
        split_file="split_zhou_DescribableTextures.json",
        num_classes=47,
        counts={"train": 2820, "val": 1128, "test": 1692},
        layout=(
            "dtd/\n"
            "  images/<class>/*.jpg\n"
            "  split_zhou_DescribableTextures.json"
        ),
        artifacts=(
            _split_artifact("dtd", "split_zhou_DescribableTextures.json", "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"),
            Artifact(
                description="dataset archive",
                filename="dtd-r1.0.1.tar.gz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",),
                target="dtd/images",
                checksums=(Checksum("md5", "fff73e5086ae6bdbea199a49dfb8a4c1", "torchvision (datasets.DTD)"),),
                unpack=(("dtd", "dtd"),),
                kind="images",
            ),
        ),
    ),
    DatasetSpec(
        name="EuroSAT",
        config="eurosat",
        folder="eurosat",
        image_subdir="2750",
        split_file="split_zhou_EuroSAT.json",
        num_classes=10,
        counts={"train": 13_500, "val": 5400, "test": 8100},
        layout=(
            "eurosat/\n"
            "  2750/<class>/*.jpg        (the RGB release; its folder is named 2750)\n"
            "  split_zhou_EuroSAT.json"
        ),
        artifacts=(
            _split_artifact("eurosat", "split_zhou_EuroSAT.json", "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"),
            Artifact(
                description="images archive (RGB)",
                filename="EuroSAT.zip",
                urls=(
                    "https://huggingface.co/datasets/torchgeo/eurosat/resolve/"
                    "c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
                    "http://madm.dfki.de/files/sentinel/EuroSAT.zip",
                ),
                target="eurosat/2750",
                checksums=(Checksum("md5", "c8fa014336c82ac7804f0398fcb19387", "torchvision (datasets.EuroSAT)"),),
                unpack=(("2750", "eurosat/2750"),),
                kind="images",
            ),
        ),
    ),
    DatasetSpec(
        name="UCF101",
        config="ucf101",
        folder="ucf101",
        image_subdir="UCF-101-midframes",
        split_file="split_zhou_UCF101.json",
        num_classes=101,
        counts={"train": 7639, "val": 1898, "test": 3783},
        layout=(
            "ucf101/\n"
            "  UCF-101-midframes/<Action_Name>/*.jpg   (one middle frame per video)\n"
            "  ucfTrainTestlist/classInd.txt, trainlist01.txt, testlist01.txt   (only needed without the split file)\n"
            "  split_zhou_UCF101.json"
        ),
        metadata=("ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/trainlist01.txt", "ucfTrainTestlist/testlist01.txt"),
        artifacts=(
            _split_artifact("ucf101", "split_zhou_UCF101.json", "1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y"),
            Artifact(
                description="middle frames archive (CoOp's UCF-101-midframes.zip)",
                filename="UCF-101-midframes.zip",
                urls=(GDRIVE + "10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O",),
                target="ucf101/UCF-101-midframes",
                # No checksum is published for CoOp's Drive file: the data check run after
                # unpacking verifies its content (every image the split file lists is there).
                unpack=(("UCF-101-midframes", "ucf101/UCF-101-midframes"),),
                kind="images",
            ),
            Artifact(
                description="official train/test lists",
                filename="UCF101TrainTestSplits-RecognitionTask.zip",
                urls=("https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",),
                target="ucf101/ucfTrainTestlist",
                checksums=(
                    Checksum(
                        "sha256",
                        "5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27",
                        "TensorFlow Datasets (ucf101 url_checksums)",
                    ),
                ),
                unpack=(("ucfTrainTestlist", "ucf101/ucfTrainTestlist"),),
                note="only needed without the split file",
            ),
        ),
    ),
    DatasetSpec(
        name="ImageNetV2",
        config="imagenetv2",
        folder="imagenetv2",
        image_subdir="imagenetv2-matched-frequency-format-val",
        split_file=None,
        num_classes=1000,
        counts={"test": 10_000},
        test_only=True,
        layout=(
            "imagenetv2/\n"
            "  imagenetv2-matched-frequency-format-val/<0..999>/*.jpeg   (folder k = ImageNet class k)\n"
            "  classnames.txt          (a copy of imagenet/classnames.txt)"
        ),
        metadata=("classnames.txt",),
        artifacts=(
            _classnames_artifact("imagenetv2"),
            Artifact(
                description="matched-frequency test set",
                filename="imagenetv2-matched-frequency.tar.gz",
                urls=(
                    "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/imagenetv2-matched-frequency.tar.gz",
                    "https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz",
                ),
                target="imagenetv2/imagenetv2-matched-frequency-format-val",
                # Two different archives under one name: the Hugging Face copy and the S3 one.
                checksums=(
                    Checksum(
                        "sha256",
                        "f0c37fdf925916b19ea1323cd9a2208cdb6959ba2c32eef2a7fc393835c9ca7c",
                        "TensorFlow Datasets (imagenet_v2 checksums.tsv, the Hugging Face file)",
                    ),
                    Checksum(
                        "sha256",
                        "a32004f9e773279307499059d320336a23ccdc62cb32063da29bae9bd04c122c",
                        "TensorFlow Datasets (imagenet_v2 url_checksums, the S3 file)",
                    ),
                ),
                unpack=(
                    (
                        "imagenetv2-matched-frequency-format-val",
                        "imagenetv2/imagenetv2-matched-frequency-format-val",
                    ),
                ),
                kind="images",
            ),
        ),
    ),
    DatasetSpec(
        name="ImageNetSketch",
        config="imagenet_sketch",
        folder="imagenet-sketch",
        image_subdir="images",
        split_file=None,
        num_classes=1000,
        counts={"test": 50_889},
        test_only=True,
        layout=(
            "imagenet-sketch/\n"
            "  images/<wnid>/*.JPEG    1000 class folders (the archive names this folder sketch/)\n"
            "  classnames.txt          (a copy of imagenet/classnames.txt)"
        ),
        metadata=("classnames.txt",),
        artifacts=(
            _classnames_artifact("imagenet-sketch"),
            Artifact(
                description="images archive (8 GB)",
                filename="ImageNet-Sketch.zip",
                urls=(
                    GDRIVE + "1Mj0i5HBthqH1p_yeXzsg22gZduvgoNeA",
                    "https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip",
                ),
                target="imagenet-sketch/images",
                checksums=(
                    Checksum(
                        "sha256",
                        "4d3ce6b82a7c48aabf14aeac105eb533e75707f152cc858f55bfc022031a72ed",
                        "TensorFlow Datasets and Hugging Face datasets (imagenet_sketch)",
                    ),
                ),
                unpack=(("sketch", "imagenet-sketch/images"),),
                kind="images",
            ),
        ),
    ),
    DatasetSpec(
        name="ImageNetA",
        config="imagenet_a",
        folder="imagenet-adversarial",
        image_subdir="imagenet-a",
        split_file=None,
        num_classes=200,
        counts={"test": 7500},
        test_only=True,
        layout=(
            "imagenet-adversarial/\n"
            "  imagenet-a/<wnid>/*.jpg  200 class folders (and a README.txt)\n"
            "  classnames.txt          (a copy of imagenet/classnames.txt)"
        ),
        metadata=("classnames.txt",),
        artifacts=(
            _classnames_artifact("imagenet-adversarial"),
            Artifact(
                description="images archive",
                filename="imagenet-a.tar",
                urls=("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",),
                target="imagenet-adversarial/imagenet-a",
                checksums=(Checksum("md5", "c3e55429088dc681f30d81f4726b6595", "pytorch-ood (dataset.img.ImageNetA)"),),
                unpack=(("imagenet-a", "imagenet-adversarial/imagenet-a"),),
                kind="images",
            ),
        ),
    ),
    DatasetSpec(
        name="ImageNetR",
        config="imagenet_r",
        folder="imagenet-rendition",
        image_subdir="imagenet-r",
        split_file=None,
        num_classes=200,
        counts={"test": 30_000},
        test_only=True,
        layout=(
            "imagenet-rendition/\n"
            "  imagenet-r/<wnid>/*.jpg  200 class folders (and a README.txt)\n"
            "  classnames.txt          (a copy of imagenet/classnames.txt)"
        ),
        metadata=("classnames.txt",),
        artifacts=(
            _classnames_artifact("imagenet-rendition"),
            Artifact(
                description="images archive",
                filename="imagenet-r.tar",
                urls=("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",),
                target="imagenet-rendition/imagenet-r",
                checksums=(Checksum("md5", "a61312130a589d0ca1a8fca1f2bd3337", "pytorch-ood (dataset.img.ImageNetR)"),),
                unpack=(("imagenet-r", "imagenet-rendition/imagenet-r"),),
                kind="images",
            ),
        ),
    ),
)

SPECS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}
DATASET_NAMES: tuple[str, ...] = tuple(SPECS)


def spec_for(name: str) -> DatasetSpec:
    """The spec of a dataset given its reader name, config stem or folder name (any case)."""
    key = name.strip().lower()
    for spec in SPECS.values():
        if key in (spec.name.lower(), spec.config.lower(), spec.folder.lower()):
            return spec
    valid = ", ".join(DATASET_NAMES)
    raise KeyError(f"Unknown dataset '{name}'. Valid names: {valid} (or their config names, e.g. 'dtd').")
