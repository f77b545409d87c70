"""Building the images: `ImageSet` (the tags of the images a stack runs), `image_tags`
(the tags the current inputs give), `ensure_images` (build the images whose inputs
changed, keep a moving `latest` tag and prune old builds) and `ensure_service_image`
(the service image of another revision's source tree). Each build runs Docker's classic
builder on a copy of the role's Dockerfile folder (plus the wheelhouse for the service).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from containers.images.base_image import BASE_IMAGE, ensure_base_image
from containers.images.fingerprint import PROJECT_ROOT, ROLES, input_hash
from containers.images.steps import ImageBuildError, Progress, image_id, print_progress, step
from containers.images.wheelhouse import build_wheelhouse

__all__ = [
    "IMAGE_REPOSITORY",
    "KEEP_OLD_BUILDS",
    "ImageSet",
    "ensure_images",
    "ensure_service_image",
    "image_tags",
]

# Can be overridden, e.g. to build a second, independent set of images next to the usual one.
IMAGE_REPOSITORY = os.environ.get("TASTEMATCH_IMAGE_REPOSITORY", "tastematch-bench")
# Older builds of an image kept besides the current one (another checkout may use them).
KEEP_OLD_BUILDS = 2


@dataclass(frozen=True)
class ImageSet:
    """Tags of the images the stack runs."""

    postgres: str
    redis: str
    service: str
    pgbouncer: str
    #: The network fault injector (``containers.faults``), not part of a running stack.
    netfault: str

    def as_dict(self) -> dict[str, str]:
        return {
            "postgres": self.postgres,
            "redis": self.redis,
            "service": self.service,
            "pgbouncer": self.pgbouncer,
            "netfault": self.netfault,
        }


def _docker_build(
    client: docker.DockerClient, context: Path, tag: str, labels: dict[str, str], progress: Progress
) -> None:
    role = labels["org.tastematch.role"]
    log: list[str] = []
    # The classic builder through the API: no buildx plugin needed, progress as a stream.
    stream = client.api.build(
        path=str(context),
        tag=tag,
        rm=True,
        forcerm=True,
        decode=True,
        labels=labels,
        buildargs={"BASE_IMAGE": BASE_IMAGE},
    )
    for chunk in stream:
        if "error" in chunk:
            tail = "".join(log[-30:])
            raise ImageBuildError(f"building {tag} failed: {chunk['error'].strip()}\n{tail}")
        text = str(chunk.get("stream", ""))
        if text:
            log.append(text)
            line = text.strip()
            if line.startswith("Step "):
                progress(f"{role}: {' '.join(line.split())[:120]}")
    if image_id(client, tag) is None:
        raise ImageBuildError(f"building {tag} finished without producing the image")


def _build_role(
    client: docker.DockerClient,
    role: str,
    tag: str,
    content_hash: str,
    progress: Progress,
    root: Path = PROJECT_ROOT,
) -> None:
    labels = {"org.tastematch.role": role, "org.tastematch.input-hash": content_hash}
    with tempfile.TemporaryDirectory(prefix=f"tastematch-{role}-") as work:
        context = Path(work) / "context"
        shutil.copytree(root / "containers" / "images" / role, context)
        if role == "service":
            build_wheelhouse(context, progress, root)
        _docker_build(client, context, tag, labels, progress)


def ensure_service_image(
    root: Path,
    *,
    client: docker.DockerClient | None = None,
    progress: Progress = print_progress,
) -> str:
    """The tag of the service image built from the project at `root` (another revision's
    source tree), built if missing. Tags are content hashes: a revision whose service
    sources equal the working tree's gets the very same image."""
    if not (root / "containers" / "images" / "service" / "Dockerfile").is_file():
        raise ImageBuildError(f"{root} has no containers/images/service/Dockerfile to build")
    client = client or docker.from_env()
    content_hash = input_hash("service", ensure_base_image(client, progress), root)
    tag = f"{IMAGE_REPOSITORY}/service:{content_hash}"
    if image_id(client, tag):
        progress(f"service: {tag} is up to date")
        return tag
    with step(progress, f"service: building {tag} from {root}"):
        _build_role(client, "service", tag, content_hash, progress, root)
    return tag


def image_tags(client: docker.DockerClient, base_image_id: str) -> ImageSet:
    """The tags the images have for the current inputs (built or not)."""
    tags = {role: f"{IMAGE_REPOSITORY}/{role}:{input_hash(role, base_image_id)}" for role in ROLES}
    return ImageSet(**tags)


def ensure_images(
    roles: tuple[str, ...] = ROLES,
    *,
    client: docker.DockerClient | None = None,
    progress: Progress = print_progress,
) -> ImageSet:
    """Build the images of `roles` whose inputs changed; return every role's tag.

    Raises ImageBuildError (with the failing step's output) when something cannot be built.
    """
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown image(s) {', '.join(unknown)}; expected {', '.join(ROLES)}")
    client = client or docker.from_env()
    base_id = ensure_base_image(client, progress)
    tags = image_tags(client, base_id)
    for role in roles:
        tag = tags.as_dict()[role]
        content_hash = tag.rsplit(":", 1)[1]
        if image_id(client, tag):
            progress(f"{role}: {tag} is up to date")
            continue
        with step(progress, f"{role}: building {tag}"):
            _build_role(client, role, tag, content_hash, progress)
        # Keep a moving `latest` tag for people poking at the images by hand.
        client.images.get(tag).tag(f"{IMAGE_REPOSITORY}/{role}", "latest")
        _prune_old_builds(client, role, progress)
    return tags


def _prune_old_builds(client: docker.DockerClient, role: str, progress: Progress) -> None:
    """Remove all but the newest KEEP_OLD_BUILDS + 1 builds of `role` (not those in use)."""
    builds = client.images.list(
        name=f"{IMAGE_REPOSITORY}/{role}", filters={"label": f"org.tastematch.role={role}"}
    )
    builds.sort(key=lambda image: str(image.attrs.get("Created", "")), reverse=True)
    for image in builds[KEEP_OLD_BUILDS + 1 :]:
        for tag in image.tags:
            if tag.endswith(":latest"):
                continue
            try:
                client.images.remove(tag, noprune=False)
                progress(f"{role}: removed the old build {tag}")
            except docker.errors.APIError:
                pass  # still used by a container: it goes on a later build
