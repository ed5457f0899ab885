# The service image used by docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run --silent generate
ENV PORT=4000
EXPOSE 4000
CMD ["npm", "start"]
