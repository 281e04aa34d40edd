# A deployment image: nginx in front of cruddur-api's FastCGI workers, the app
# database and the telemetry spool on the /var/lib/cruddur volume.
FROM debian:bookworm-slim AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential autoconf automake pkg-config \
      libfcgi-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev zlib1g-dev check \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN autoreconf -fi && ./configure --prefix=/usr --localstatedir=/var && make -j"$(nproc)" && make install DESTDIR=/out

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nginx libfcgi0ldbl libsqlite3-0 libjansson4 libcurl4 sqlite3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
COPY scripts/container-start /usr/local/bin/container-start
ENV CRUDDUR_STATE_DIR=/var/lib/cruddur CRUDDUR_WORKERS=2
VOLUME /var/lib/cruddur
EXPOSE 4567
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:4567/api/health-check || exit 1
CMD ["container-start"]
