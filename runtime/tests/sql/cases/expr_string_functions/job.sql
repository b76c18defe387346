-- String functions: SUBSTRING (FROM/FOR and comma forms, out-of-range bounds), UPPER,
-- LOWER, CONCAT and || (NULL handling differs from CONCAT_WS), CHAR_LENGTH on non-ASCII,
-- SPLIT_INDEX (0-based, out of range -> NULL), REGEXP_EXTRACT with groups and no match,
-- TRIM (BOTH/LEADING/TRAILING, custom characters), POSITION, REPLACE.
CREATE TABLE src (
  id INT,
  s STRING,
  csv STRING,
  email STRING,
  padded STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  id INT,
  sub1 STRING,
  sub2 STRING,
  sub3 STRING,
  up STRING,
  low STRING,
  cat STRING,
  cat_op STRING,
  cat_ws STRING,
  len INT,
  split0 STRING,
  split1 STRING,
  split5 STRING,
  user_part STRING,
  domain_part STRING,
  whole_match STRING,
  trimmed STRING,
  ltrimmed STRING,
  rtrimmed STRING,
  x_trimmed STRING,
  pos INT,
  replaced STRING
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  id,
  SUBSTRING(s FROM 2 FOR 3),
  SUBSTRING(s, 7),
  SUBSTRING(s, 0, 2),
  UPPER(s),
  LOWER(s),
  CONCAT(s, '-', csv),
  s || '/' || email,
  CONCAT_WS('|', s, csv, email),
  CHAR_LENGTH(s),
  SPLIT_INDEX(csv, ',', 0),
  SPLIT_INDEX(csv, ',', 1),
  SPLIT_INDEX(csv, ',', 5),
  REGEXP_EXTRACT(email, '([a-z.]+)@([a-z.]+)', 1),
  REGEXP_EXTRACT(email, '([a-z.]+)@([a-z.]+)', 2),
  REGEXP_EXTRACT(email, '[a-z]+', 0),
  TRIM(padded),
  TRIM(LEADING FROM padded),
  TRIM(TRAILING FROM padded),
  TRIM(BOTH 'x' FROM padded),
  POSITION('o' IN s),
  REPLACE(s, 'o', '0')
FROM src;
