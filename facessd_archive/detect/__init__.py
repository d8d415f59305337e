"""``facessd detect``: a detector run on anyone's pictures (files and folders), not on a benchmark."""
