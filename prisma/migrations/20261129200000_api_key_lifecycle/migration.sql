-- AlterTable
ALTER TABLE `api_keys` ADD COLUMN `name` VARCHAR(200) NULL,
    ADD COLUMN `rateLimitPerS` DOUBLE NULL,
    ADD COLUMN `rateLimitBurst` INTEGER NULL,
    ADD COLUMN `rotatedAt` DATETIME(3) NULL,
    ADD COLUMN `previousSecretHash` CHAR(64) NULL,
    ADD COLUMN `previousSecretExpiresAt` DATETIME(3) NULL;

-- CreateIndex
CREATE UNIQUE INDEX `api_keys_previousSecretHash_key` ON `api_keys`(`previousSecretHash`);
