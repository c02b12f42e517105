# One image for every twinx service; the command picks the service (`twinx org serve`, ...).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
ENV NODE_ENV=production TWINX_HOST=0.0.0.0
ENTRYPOINT ["node", "bin/twinx.mjs"]
