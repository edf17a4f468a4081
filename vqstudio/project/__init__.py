"""The project folder: what training leaves on disk, readable without VQ Studio.

- `folder`: `Project`, the folder and its `project.json`, history, samples and reports;
- `schema`: what a readable `project.json` must hold;
- `checkpoint`: weights and training state in safetensors files (imports torch; never pickle).
"""

from vqstudio.project.folder import FORMAT, META_FILE, OUTPUT_FOLDERS, OWN_FILES, SCHEMA_VERSION, Project

__all__ = ["FORMAT", "META_FILE", "OUTPUT_FOLDERS", "OWN_FILES", "SCHEMA_VERSION", "Project"]
