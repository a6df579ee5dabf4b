"""Material ids, colours and random-stream ids shared by the scene and the shading."""

from __future__ import annotations

import numpy as np

_SKY, _MOUNTAIN_FAR, _MOUNTAIN, _HILL, _HILL_TREES, _MEADOW = 1, 2, 3, 4, 5, 6
_WALL, _ROOF, _WINDOW, _DOOR, _TRUNK, _FOLIAGE, _CONIFER, _BUSH = 7, 8, 9, 10, 11, 12, 13, 14
_POLE, _LAMP, _WIRE, _FENCE, _GRASS, _BALLAST, _RAIL, _SLEEPER = 15, 16, 17, 18, 19, 20, 21, 22
_SIGN, _HAY, _GLASS, _WATER, _BANK, _PLATFORM = 23, 24, 25, 26, 27, 28

_SNOW = np.array([0.92, 0.94, 0.97], np.float32)
_FOG = np.array([0.80, 0.81, 0.82], np.float32)
_LAMP_LIGHT = np.array([1.0, 0.86, 0.58], np.float32)
_WINDOW_LIGHT = np.array([1.0, 0.80, 0.45], np.float32)

# stream ids for seeding (never reorder: they define the world)
_S_SKY, _S_MOUNT, _S_HILL, _S_MID, _S_NEAR, _S_POLES, _S_GROUND = 1, 2, 3, 4, 5, 6, 7
_S_NOISE, _S_JITTER, _S_SENSOR = 20, 30, 31
