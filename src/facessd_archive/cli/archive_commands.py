"""Archive commands (list, show, verify, lineage, pull, push): to be written."""
