-- `_events` messages of operations after publish are staged here and moved into
-- `messages` only when their `_events` queue is read (src/domain/staged-events.ts): a
-- `messages` row costs MariaDB nine indexes, this one a primary key and one index.
-- Ids are ascii_bin like those of `messages` (Prisma does not model character sets).

-- CreateTable
CREATE TABLE `event_log` (
    `id` CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    `tenantId` CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    `scopeId` CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    `queueId` CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    `messageType` VARCHAR(128) NOT NULL,
    `body` JSON NOT NULL,
    `correlationId` VARCHAR(128) NULL,
    `causationId` VARCHAR(128) NOT NULL,
    `createdAt` DATETIME(3) NOT NULL,

    INDEX `event_log_queueId_id_idx`(`queueId`, `id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
