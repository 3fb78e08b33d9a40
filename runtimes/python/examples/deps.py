# Deps example: uses a library installed in the image at build time
# (Debian's python3-yaml; DEPS in the Dockerfile).
import yaml


def handler(event, context):
    return "deps: yaml %s" % yaml.safe_dump({"plain": "text"}).strip()
