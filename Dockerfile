# The image of every Arena service (scorer, trainer, evaluator, api, watch) and of the one-shot
# migration: `docker run <image> scorer`, `... db upgrade`, `... pin 3 --reason ...`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# Dependencies first, in their own layer: TensorFlow is most of the image, and it should
# not be downloaded again when only Arena's code changed. Every one is pinned with its
# hashes (`make lock`): pip refuses any file whose hash the lock does not list, and any
# dependency the lock does not pin. The runtime lock leaves out the test and lint tools.
COPY requirements-runtime.lock ./
RUN pip install --require-hashes -r requirements-runtime.lock && rm requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY arena ./arena
COPY scorer ./scorer
COPY trainer ./trainer
COPY evaluator ./evaluator
COPY storage ./storage
COPY migrations ./migrations
# No build isolation: setuptools is the locked one above, not whatever the index serves now.
RUN pip install --no-deps --no-build-isolation . && rm -rf build arena.egg-info

# Not root (uid 10001). What it writes: /app/out (`arena demo`'s report), /var/lib/arena/watch
# (`arena watch`'s ledger; a new named volume mounted there starts owned by this user) and its
# home (Keras and Matplotlib caches). docker-compose.yml mounts the drone folder read-only at
# /data/drone, so the user only needs to read the photos there.
RUN useradd --create-home --uid 10001 arena \
    && mkdir -p /app/out /var/lib/arena/watch /data/drone \
    && chown arena /app /app/out /var/lib/arena/watch
USER arena

ENTRYPOINT ["arena"]
CMD ["--help"]
