DROP TABLE `members`;
