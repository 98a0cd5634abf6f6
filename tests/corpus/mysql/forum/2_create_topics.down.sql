DROP TRIGGER `topics_slug`;
DROP TABLE `topics`;
