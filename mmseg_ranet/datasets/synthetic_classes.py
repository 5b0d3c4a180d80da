"""Classes, palette and cue colours of the generated context dataset."""

#: Class names, in label order.
CLASSES: tuple[str, ...] = ("background", "red_cue", "green_cue", "blue_cue", "yellow_cue")
#: Display palette for the classes (RGB).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (220, 20, 60),
    (0, 170, 60),
    (30, 80, 230),
    (230, 200, 0),
)
#: Cue colour of each object class (RGB); index 0 (background) has no cue.
CUE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (235, 30, 30),
    (30, 220, 30),
    (30, 60, 240),
    (240, 230, 20),
)

__all__ = ["CLASSES", "CUE_COLOURS", "PALETTE"]
