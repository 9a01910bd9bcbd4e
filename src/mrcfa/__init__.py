from .configuration_mrcfa import MRCFA_PRESETS, VSPW_CLASSES, MrcfaConfig  # noqa: F401
