-- CSV format options: 'csv.field-delimiter' = '|', 'csv.quote-character' = '''',
-- 'csv.null-literal' = 'N/A' (that exact field text reads as NULL, in any column type)
-- and 'csv.ignore-parse-errors' = 'true': a field that does not convert to its column
-- type ('bad' as INT, 'not-a-number' as DOUBLE) becomes NULL instead of failing the job
-- and the row is kept; a row with too few fields gets NULLs for the missing ones, a row
-- with too many fields is skipped.
CREATE TABLE src (
  id INT,
  name STRING,
  score DOUBLE,
  code STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.csv',
  'format' = 'csv',
  'csv.field-delimiter' = '|',
  'csv.quote-character' = '''',
  'csv.null-literal' = 'N/A',
  'csv.ignore-parse-errors' = 'true'
);

CREATE TABLE print_sink (
  id INT,
  name STRING,
  score DOUBLE,
  code STRING
) WITH ('connector' = 'print');

INSERT INTO print_sink SELECT * FROM src;
