"""The preprocessing of the case, in one place: every implementation reads these numbers."""

SHORT_SIDE = 256  # resize so the shorter side is this long (bilinear)
CROP = 224  # then centre-crop a CROP x CROP square
MEAN = (0.485, 0.456, 0.406)  # ImageNet mean, per RGB channel, on [0, 1] values
STD = (0.229, 0.224, 0.225)  # ImageNet std
INPUT_SHAPE = (1, 3, CROP, CROP)  # NCHW, what the models take


def resized_size(width: int, height: int) -> "tuple":
    """(width, height) after scaling the shorter side to SHORT_SIDE, keeping the aspect ratio.

    The longer side is rounded down, as torchvision's Resize does (320x240 -> 341x256); integer
    arithmetic so every implementation and Python version agrees.
    """
    if width <= height:
        return SHORT_SIDE, height * SHORT_SIDE // width
    return width * SHORT_SIDE // height, SHORT_SIDE


def crop_box(width: int, height: int) -> "tuple":
    """(left, top, right, bottom) of the centre crop."""
    left = (width - CROP) // 2
    top = (height - CROP) // 2
    return left, top, left + CROP, top + CROP
