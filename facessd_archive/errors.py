"""One hierarchy for every error a user can cause.

Each class is also a standard exception type, so callers that only know Python
(``except ValueError``) still catch it. The CLI prints ``str(error)`` as one line
without a traceback for any ``FacessdError``.
"""


class FacessdError(Exception):
    """Root of the errors the CLI turns into one line."""


class ConfigError(FacessdError, ValueError):
    """A setting is out of range. Example: ``ModelConfig: input_size must be >= 33, got 20``."""


class DataError(FacessdError, ValueError):
    """Bad input data. Example: ``images/a.jpg: cannot decode image (truncated JPEG)``."""


class AnnotationError(DataError):
    """A malformed annotation. Example: ``annotations/a.xml: <bndbox> xmin is not a number: 'x'``."""


class ImageError(DataError):
    """A missing or undecodable image. Example: ``images/a.jpg: cannot decode image``."""


class CheckpointError(FacessdError, ValueError):
    """A missing, truncated or mismatched checkpoint. Example: ``runs/a: no checkpoint found``."""


class ArchiveError(FacessdError):
    """Archive-level problem (bad manifest, unknown stage, ...)."""


class ManifestError(ArchiveError, ValueError):
    """stage.json fails validation. Example: ``keypoints/v1/x/stage.json: files[0].sha256 must be 64 hex digits``."""


class StageNotFoundError(ArchiveError, FileNotFoundError):
    """No such stage. Example: ``stage 'keypoints/v1/nope' not found under archive/``."""


class StageExistsError(ArchiveError, FileExistsError):
    """A sealed stage would be overwritten. Example: ``keypoints/v1/x is sealed; use --new-version``."""


class IntegrityError(ArchiveError):
    """A hash or size mismatch. Example: ``keypoints/v1/x/ckpt.data: sha256 mismatch``."""


class UnsafePathError(ArchiveError, ValueError):
    """A path escapes the archive root. Example: ``'../etc/passwd' escapes the archive root``."""


class HubError(FacessdError):
    """A Hub call failed (auth, not found, network). Example: ``401 from http://...: set HF_TOKEN``."""
