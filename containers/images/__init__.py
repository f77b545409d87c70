"""Build the postgres, redis, service, pgbouncer and netfault images, tagged by input hash.

`ensure_images()` is a fast no-op when every image is up to date: an image whose
inputs (its Dockerfile folder, the base image and, for the service, `service/` and
`pyproject.toml`) did not change is never rebuilt. Where the base image
`debian:bookworm-slim` cannot be pulled (no registry), it is bootstrapped with
`debootstrap` and `docker import`.

The package's API is re-exported here from its modules: `build` (the image set and the
builds), `fingerprint` (roles and input hashes), `base_image` (pull or bootstrap the base
image), `wheelhouse` (the service's wheels) and `steps` (the error and progress).
"""

from __future__ import annotations

from containers.images.base_image import BASE_IMAGE, ensure_base_image
from containers.images.build import ImageSet, ensure_images, ensure_service_image, image_tags
from containers.images.fingerprint import ROLES, input_hash
from containers.images.steps import ImageBuildError

__all__ = [
    "BASE_IMAGE",
    "ROLES",
    "ImageBuildError",
    "ImageSet",
    "ensure_base_image",
    "ensure_images",
    "ensure_service_image",
    "image_tags",
    "input_hash",
]
