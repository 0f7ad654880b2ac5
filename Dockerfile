# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
# mod_aoproxy in a container: Debian 12's apache2 with the libapache2-mod-aoproxy package
# built from this tree (first stage) and installed (second stage), the way README's
# install section does it.
#   docker build -t mod-aoproxy .
#   docker compose -f docker/compose.yaml up      (mounts /etc/aoproxy; see that file)
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dpkg-dev debhelper
COPY . /src/libapache2-mod-aoproxy
WORKDIR /src/libapache2-mod-aoproxy
RUN DEBIAN_FRONTEND=noninteractive apt-get build-dep -y ./ \
 && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b

FROM debian:12-slim
COPY --from=build /src/libapache2-mod-aoproxy_*.deb /tmp/
# mod_ssl for the https Azure endpoints (its Listen 443 dropped: no certificate here);
# logs to the container's stdout and stderr; no admin key baked into the image: the
# entrypoint makes one per container (or takes the one in the mounted /etc/aoproxy),
# reads envvars and execs apache2 in the foreground.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        /tmp/libapache2-mod-aoproxy_*.deb ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* /tmp/*.deb \
 && a2enmod -q ssl \
 && sed -i 's/^\(\s*Listen 443\)/# \1/' /etc/apache2/ports.conf \
 && ln -sf /proc/self/fd/1 /var/log/apache2/access.log \
 && ln -sf /proc/self/fd/1 /var/log/apache2/other_vhosts_access.log \
 && ln -sf /proc/self/fd/2 /var/log/apache2/error.log \
 && install -D -m 0644 /etc/aoproxy/base.yaml /usr/local/share/aoproxy/base.yaml \
 && rm -f /etc/aoproxy/admin.key
COPY docker/entrypoint /usr/local/bin/aoproxy-entrypoint
EXPOSE 80
VOLUME /var/lib/apache2/aoproxy
ENTRYPOINT ["/usr/local/bin/aoproxy-entrypoint"]
HEALTHCHECK CMD curl -fsS -o /dev/null http://127.0.0.1/v1/models || exit 1
CMD ["apache2", "-DFOREGROUND"]
