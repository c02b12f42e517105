# One image for every twinx service; the command picks the service (`twinx org serve`, ...).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The project's own install step (Prisma clients, the compiled CLI) needs the sources: it runs after COPY.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run generate && npm run build
ENV NODE_ENV=production TWINX_HOST=0.0.0.0
ENTRYPOINT ["node", "bin/twinx.mjs"]
