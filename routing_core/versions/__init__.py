"""The model registry: saved model versions, their manifests and signatures.

- `registry`: one folder per version; publish, list, load, activate, delete.
- `manifest`: the manifest of a version and the caches in front of it.
- `signing`: signed versions, so writing the models folder is not enough to run code in the studio.
"""
