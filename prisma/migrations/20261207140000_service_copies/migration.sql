-- A message the service made as a copy of another (a dead-letter copy, a routed child)
-- is marked so by the service. GDPR erasure follows these marks from an erased message
-- to its copies; it used to follow parentId, which any publisher may set (to another
-- tenant's message id, even), so one tenant's erasure could wipe another's messages.
-- Adding the column is instant (MariaDB 10.3+); the UPDATE marks the copies made
-- before: routed children have routeHops > 0, dead-letter copies sit in `_dead_letter`.

-- AlterTable
ALTER TABLE `messages` ADD COLUMN `isCopy` BOOLEAN NOT NULL DEFAULT false;

UPDATE `messages` SET `isCopy` = true
WHERE `parentId` IS NOT NULL
  AND (`routeHops` > 0 OR `queueId` IN (SELECT `id` FROM `queues` WHERE `slug` = '_dead_letter'));
