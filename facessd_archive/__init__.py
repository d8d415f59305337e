"""facessd-archive: SSD-MobileNet face detectors, trained, evaluated and archived as stages."""

__version__ = "0.1.0"
