DROP TRIGGER note_tags_count_down;
DROP TRIGGER note_tags_count_up;
DROP TABLE `note_tags`;
DROP TABLE [tags];
