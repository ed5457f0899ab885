-- CreateTable
CREATE TABLE `tenants` (
    `id` CHAR(36) NOT NULL,
    `slug` VARCHAR(64) NOT NULL,
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `tenants_slug_key`(`slug`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `api_keys` (
    `id` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `secretHash` CHAR(64) NOT NULL,
    `permissions` VARCHAR(255) NOT NULL,
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `revokedAt` DATETIME(3) NULL,

    UNIQUE INDEX `api_keys_secretHash_key`(`secretHash`),
    INDEX `api_keys_tenantId_idx`(`tenantId`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `scopes` (
    `id` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `slug` VARCHAR(64) NOT NULL,
    `displayName` VARCHAR(200) NOT NULL,
    `description` TEXT NULL,
    `state` ENUM('ACTIVE', 'PAUSED', 'DRAINING', 'ARCHIVED') NOT NULL DEFAULT 'ACTIVE',
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `scopes_tenantId_slug_key`(`tenantId`, `slug`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `queues` (
    `id` CHAR(36) NOT NULL,
    `scopeId` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `slug` VARCHAR(64) NOT NULL,
    `displayName` VARCHAR(200) NOT NULL,
    `system` BOOLEAN NOT NULL DEFAULT false,
    `ordering` ENUM('FIFO', 'PRIORITY', 'DEADLINE') NOT NULL DEFAULT 'FIFO',
    `consumerMode` ENUM('COMPETING', 'BROADCAST') NOT NULL DEFAULT 'COMPETING',
    `state` ENUM('ACTIVE', 'PAUSED', 'DRAINING', 'ARCHIVED') NOT NULL DEFAULT 'ACTIVE',
    `visibilityTimeoutS` INTEGER NOT NULL DEFAULT 30,
    `maxRetries` INTEGER NOT NULL DEFAULT 5,
    `maxDepth` INTEGER NULL,
    `overflowPolicy` ENUM('REJECT', 'DROP_OLDEST', 'DEAD_LETTER') NOT NULL DEFAULT 'REJECT',
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `queues_tenantId_idx`(`tenantId`),
    UNIQUE INDEX `queues_scopeId_slug_key`(`scopeId`, `slug`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `messages` (
    `id` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `scopeId` CHAR(36) NOT NULL,
    `queueId` CHAR(36) NOT NULL,
    `state` ENUM('PENDING', 'CLAIMED', 'COMPLETED', 'DEAD_LETTERED', 'EXPIRED', 'ARCHIVED') NOT NULL DEFAULT 'PENDING',
    `messageType` VARCHAR(128) NULL,
    `body` JSON NOT NULL,
    `bodyHash` CHAR(64) NOT NULL,
    `contentType` VARCHAR(128) NOT NULL DEFAULT 'application/json',
    `labels` JSON NOT NULL,
    `priorityTier` ENUM('CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'BACKGROUND') NOT NULL DEFAULT 'NORMAL',
    `priorityScore` INTEGER NOT NULL DEFAULT 0,
    `correlationId` VARCHAR(128) NULL,
    `causationId` VARCHAR(128) NULL,
    `parentId` CHAR(36) NULL,
    `idempotencyKey` VARCHAR(255) NULL,
    `deadline` DATETIME(3) NULL,
    `ttlSeconds` INTEGER NULL,
    `delayUntil` DATETIME(3) NULL,
    `attempts` INTEGER NOT NULL DEFAULT 0,
    `claimToken` CHAR(36) NULL,
    `claimedBy` VARCHAR(200) NULL,
    `claimKeyId` CHAR(36) NULL,
    `claimExpiresAt` DATETIME(3) NULL,
    `failureReason` TEXT NULL,
    `response` JSON NULL,
    `hitlSpec` JSON NULL,
    `createdAt` DATETIME(3) NOT NULL,
    `claimedAt` DATETIME(3) NULL,
    `completedAt` DATETIME(3) NULL,

    INDEX `messages_queueId_state_id_idx`(`queueId`, `state`, `id`),
    INDEX `messages_scopeId_id_idx`(`scopeId`, `id`),
    INDEX `messages_tenantId_correlationId_id_idx`(`tenantId`, `correlationId`, `id`),
    INDEX `messages_tenantId_id_idx`(`tenantId`, `id`),
    UNIQUE INDEX `messages_queueId_idempotencyKey_key`(`queueId`, `idempotencyKey`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `api_keys` ADD CONSTRAINT `api_keys_tenantId_fkey` FOREIGN KEY (`tenantId`) REFERENCES `tenants`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `scopes` ADD CONSTRAINT `scopes_tenantId_fkey` FOREIGN KEY (`tenantId`) REFERENCES `tenants`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `queues` ADD CONSTRAINT `queues_scopeId_fkey` FOREIGN KEY (`scopeId`) REFERENCES `scopes`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;
