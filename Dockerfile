# syntax=docker/dockerfile:1
# EarlyPipeProxy image: `docker build -t earlypipe .`, then run with a config in /etc/earlypipe
# (compose.yaml shows a whole set-up: Postfix behind the proxy, Prometheus, Grafana).

# ---- build ---------------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore first, from the project files only, so source changes reuse the restored layer. The build settings come
# with them: global.json (the SDK the repository is tested with) and .editorconfig (the house style is enforced in
# the build, warnings are errors, so an image built without it would not be the build CI checked).
COPY Directory.Build.props global.json .editorconfig ./
COPY src/EarlyPipeProxy.Protocol/EarlyPipeProxy.Protocol.csproj src/EarlyPipeProxy.Protocol/
COPY src/EarlyPipeProxy.Sessions/EarlyPipeProxy.Sessions.csproj src/EarlyPipeProxy.Sessions/
COPY src/EarlyPipeProxy.Host/EarlyPipeProxy.Host.csproj src/EarlyPipeProxy.Host/
RUN dotnet restore src/EarlyPipeProxy.Host/EarlyPipeProxy.Host.csproj

COPY src/ src/
RUN dotnet publish src/EarlyPipeProxy.Host -c Release -o /app --no-restore -p:UseAppHost=false

# ---- runtime -------------------------------------------------------------------------------------
# aspnet, not runtime: the host is an ASP.NET Core (Kestrel) application.
FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./

# /etc/earlypipe: configuration (the repository's config/earlypipe.json as a placeholder; mount your own,
#                 its listeners must listen on 0.0.0.0 and ports >= 1024 to be reachable as non-root).
# /var/lib/earlypipe: the outbound EHLO cache (LiteDB), owned by the unprivileged user.
RUN mkdir -p /etc/earlypipe /var/lib/earlypipe \
    && chown "$APP_UID" /var/lib/earlypipe
COPY config/earlypipe.json /etc/earlypipe/earlypipe.json

# `earlypipe` on PATH as on a host, e.g. `docker compose exec earlypipe earlypipe cache list --config
# /etc/earlypipe/earlypipe.json` (the image's EARLYPIPE__ variables point the command at the running proxy's socket).
# exec: the command is the process itself, for signals and the exit status.
RUN printf '#!/bin/sh\nexec dotnet /app/earlypipe.dll "$@"\n' > /usr/local/bin/earlypipe \
    && chmod 0755 /usr/local/bin/earlypipe

ENV EARLYPIPE__EhloCache__DatabasePath=/var/lib/earlypipe/ehlo-cache.db
# The control socket of `earlypipe cache ...` (via docker exec), beside the cache where the app user may write.
ENV EARLYPIPE__Control__SocketPath=/var/lib/earlypipe/control.sock
# The base image asks Kestrel for HTTP on 8080; the proxy listens only where its configuration says
# (SMTP listeners, Metrics:Listen).
ENV ASPNETCORE_HTTP_PORTS=
# The port of /healthz (Metrics:Listen) for HEALTHCHECK.
ENV EARLYPIPE_HEALTHCHECK_PORT=9325

VOLUME ["/etc/earlypipe", "/var/lib/earlypipe"]

# SMTP inside the container is 2025 (a non-root process cannot bind 25; publish it as 25 on the host),
# 9325 is /metrics and /healthz.
EXPOSE 2025 9325

# app (uid 1654) comes with the base image.
USER $APP_UID

# No curl in the aspnet image: a minimal HTTP/1.0 GET over bash's /dev/tcp; healthy when the status line
# says 200 (/healthz answers 503 when unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${EARLYPIPE_HEALTHCHECK_PORT:-9325} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && IFS= read -r -t 4 status <&3 && [[ $status == HTTP/*' 200 '* ]]"]

ENTRYPOINT ["dotnet", "/app/earlypipe.dll"]
CMD ["run", "--config", "/etc/earlypipe/earlypipe.json"]
