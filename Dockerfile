# moroccron serve as a container image: the scheduler, the API and the UI on port 4400.
#
#   docker build -t moroccron .
#   docker run -p 4400:4400 -e MOROCCRON_DB=postgresql://moroccron@db/moroccron \
#       -e MOROCCRON_MASTER=zk://zk1:2181/mesos -e MOROCCRON_AUTH_TOKENS=... moroccron
#
# Settings come from MOROCCRON_* variables (MOROCCRON_DB, MOROCCRON_MASTER, ...) and from
# the TOML file MOROCCRON_CONFIG names (mount it read-only). docs/deployment.md, "Container
# image", has the details.

# ---- build: the wheels of the core and the three plugins, as `make dist` builds them
FROM python:3.11-slim AS build
WORKDIR /src
COPY constraints.txt pyproject.toml README.md LICENSE ./
COPY moroccron ./moroccron
COPY plugins ./plugins
RUN pip install --no-cache-dir --disable-pip-version-check -c constraints.txt build \
    && python -m build --wheel --outdir /wheels . \
    && for plugin in plugins/email plugins/pagerduty plugins/slack; do \
           python -m build --wheel --outdir /wheels "$plugin" || exit 1; \
       done

# ---- run: the installed wheels only, as an unprivileged user
FROM python:3.11-slim
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir --disable-pip-version-check -c /tmp/constraints.txt /wheels/*.whl \
    && rm -rf /wheels /tmp/constraints.txt \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/moroccron moroccron
USER moroccron
WORKDIR /var/lib/moroccron
# SQLite in the volume by default: fine for one instance; use PostgreSQL for more.
ENV MOROCCRON_DB=sqlite:////var/lib/moroccron/moroccron.db \
    MOROCCRON_BIND=0.0.0.0:4400 \
    MOROCCRON_LOCAL_WORK_DIR=/var/lib/moroccron/mesos \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/moroccron"]
EXPOSE 4400
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('MOROCCRON_BIND', ':4400').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
# SIGTERM (docker stop) ends the step in progress, releases the leadership and exits 0.
STOPSIGNAL SIGTERM
CMD ["moroccron", "serve"]
