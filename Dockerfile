# The image of every Arena service (scorer, trainer, evaluator) and of the one-shot
# migration: `docker run <image> scorer`, `... db upgrade`, `... pin 3 --reason ...`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# Dependencies first, in their own layer: TensorFlow is most of the image, and it should
# not be downloaded again when only Arena's code changed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY arena ./arena
COPY scorer ./scorer
COPY trainer ./trainer
COPY evaluator ./evaluator
COPY storage ./storage
COPY migrations ./migrations
RUN pip install --no-deps . && rm -rf build

# Not root. /app is the working directory `arena demo` writes out/demo into.
RUN useradd --create-home --uid 10001 arena && chown arena /app
USER arena

ENTRYPOINT ["arena"]
CMD ["--help"]
