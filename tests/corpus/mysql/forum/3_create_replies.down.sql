DROP TRIGGER `replies_karma`;
DROP TABLE `replies`;
