-- AlterTable
ALTER TABLE `messages` ADD COLUMN `expiresAt` DATETIME(3) NULL,
    ADD COLUMN `finishedAt` DATETIME(3) NULL,
    ADD COLUMN `visibleAt` DATETIME(3) NULL;

-- CreateIndex
CREATE INDEX `messages_state_claimExpiresAt_idx` ON `messages`(`state`, `claimExpiresAt`);

-- CreateIndex
CREATE INDEX `messages_state_expiresAt_idx` ON `messages`(`state`, `expiresAt`);

-- CreateIndex
CREATE INDEX `messages_state_finishedAt_idx` ON `messages`(`state`, `finishedAt`);
