-- CreateTable
CREATE TABLE `consumer_groups` (
    `id` CHAR(36) NOT NULL,
    `queueId` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `name` VARCHAR(64) NOT NULL,
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `consumer_groups_queueId_name_key`(`queueId`, `name`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `deliveries` (
    `messageId` CHAR(36) NOT NULL,
    `groupId` CHAR(36) NOT NULL,
    `queueId` CHAR(36) NOT NULL,
    `tenantId` CHAR(36) NOT NULL,
    `state` ENUM('PENDING', 'CLAIMED', 'COMPLETED', 'DEAD_LETTERED', 'EXPIRED', 'ARCHIVED') NOT NULL DEFAULT 'PENDING',
    `attempts` INTEGER NOT NULL DEFAULT 0,
    `claimToken` CHAR(36) NULL,
    `claimedBy` VARCHAR(200) NULL,
    `claimKeyId` CHAR(36) NULL,
    `claimExpiresAt` DATETIME(3) NULL,
    `claimedAt` DATETIME(3) NULL,
    `visibleAt` DATETIME(3) NULL,
    `completedAt` DATETIME(3) NULL,
    `finishedAt` DATETIME(3) NULL,
    `failureReason` TEXT NULL,
    `response` JSON NULL,

    INDEX `deliveries_groupId_state_messageId_idx`(`groupId`, `state`, `messageId`),
    INDEX `deliveries_state_claimExpiresAt_idx`(`state`, `claimExpiresAt`),
    PRIMARY KEY (`messageId`, `groupId`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `consumer_groups` ADD CONSTRAINT `consumer_groups_queueId_fkey` FOREIGN KEY (`queueId`) REFERENCES `queues`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `deliveries` ADD CONSTRAINT `deliveries_groupId_fkey` FOREIGN KEY (`groupId`) REFERENCES `consumer_groups`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;
