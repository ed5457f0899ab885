-- AlterTable
ALTER TABLE `messages` ADD COLUMN `routeHops` INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE `queues` ADD COLUMN `schemaId` CHAR(36) NULL;

-- CreateIndex
CREATE INDEX `queues_schemaId_idx` ON `queues`(`schemaId`);

-- CreateTable
CREATE TABLE `routing_rules` (
    `id` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `scopeId` CHAR(36) NOT NULL,
    `name` VARCHAR(200) NOT NULL,
    `position` INTEGER NOT NULL,
    `enabled` BOOLEAN NOT NULL DEFAULT true,
    `trigger` ENUM('MESSAGE_PUBLISHED', 'MESSAGE_COMPLETED', 'MESSAGE_FAILED', 'MESSAGE_DEAD_LETTERED') NOT NULL DEFAULT 'MESSAGE_PUBLISHED',
    `sourceQueueId` CHAR(36) NULL,
    `condition` JSON NOT NULL,
    `action` JSON NOT NULL,
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `routing_rules_scopeId_position_idx`(`scopeId`, `position`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `message_schemas` (
    `id` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `scopeId` CHAR(36) NOT NULL,
    `name` VARCHAR(128) NOT NULL,
    `version` VARCHAR(64) NOT NULL,
    `schema` JSON NOT NULL,
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `message_schemas_scopeId_name_version_key`(`scopeId`, `name`, `version`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `hitl_patterns` (
    `id` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `scopeId` CHAR(36) NOT NULL,
    `name` VARCHAR(128) NOT NULL,
    `version` VARCHAR(64) NOT NULL,
    `spec` JSON NOT NULL,
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `hitl_patterns_scopeId_name_version_key`(`scopeId`, `name`, `version`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `audit_entries` (
    `id` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `at` DATETIME(3) NOT NULL,
    `action` VARCHAR(64) NOT NULL,
    `actor` VARCHAR(64) NOT NULL,
    `scopeId` CHAR(36) NULL,
    `queueId` CHAR(36) NULL,
    `messageId` CHAR(36) NULL,
    `correlationId` VARCHAR(128) NULL,
    `requestId` VARCHAR(64) NULL,
    `details` JSON NULL,

    INDEX `audit_entries_scopeId_id_idx`(`scopeId`, `id`),
    INDEX `audit_entries_tenantId_correlationId_id_idx`(`tenantId`, `correlationId`, `id`),
    INDEX `audit_entries_scopeId_action_id_idx`(`scopeId`, `action`, `id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `queues` ADD CONSTRAINT `queues_schemaId_fkey` FOREIGN KEY (`schemaId`) REFERENCES `message_schemas`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `routing_rules` ADD CONSTRAINT `routing_rules_scopeId_fkey` FOREIGN KEY (`scopeId`) REFERENCES `scopes`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `message_schemas` ADD CONSTRAINT `message_schemas_scopeId_fkey` FOREIGN KEY (`scopeId`) REFERENCES `scopes`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `hitl_patterns` ADD CONSTRAINT `hitl_patterns_scopeId_fkey` FOREIGN KEY (`scopeId`) REFERENCES `scopes`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;
