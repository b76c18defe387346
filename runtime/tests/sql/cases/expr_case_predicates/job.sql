-- CASE (searched and simple, with and without ELSE), comparisons, BETWEEN, NOT BETWEEN,
-- IN / NOT IN, LIKE with % and _ and ESCAPE, IS [NOT] NULL, IS TRUE/IS NOT FALSE,
-- three-valued AND/OR/NOT with NULLs, COALESCE and NULLIF.
CREATE TABLE items (
  id INT,
  name STRING,
  qty INT,
  price DOUBLE,
  flag BOOLEAN
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  id INT,
  size_class STRING,
  qty_word STRING,
  cmp_ge BOOLEAN,
  cmp_ne BOOLEAN,
  in_range BOOLEAN,
  not_in_range BOOLEAN,
  in_list BOOLEAN,
  not_in_list BOOLEAN,
  like_a BOOLEAN,
  like_under BOOLEAN,
  like_escape BOOLEAN,
  name_is_null BOOLEAN,
  flag_and BOOLEAN,
  flag_or BOOLEAN,
  not_flag BOOLEAN,
  flag_is_true BOOLEAN,
  flag_is_not_false BOOLEAN,
  name_or_default STRING,
  nullif_qty INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  id,
  CASE WHEN qty >= 10 THEN 'large' WHEN qty > 0 THEN 'small' ELSE 'none' END,
  CASE qty WHEN 0 THEN 'zero' WHEN 5 THEN 'five' END,
  price >= 2.5,
  qty <> 0,
  qty BETWEEN 1 AND 10,
  qty NOT BETWEEN 1 AND 10,
  name IN ('apple', 'banana', 'kiwi'),
  qty NOT IN (0, 5),
  name LIKE 'a%',
  name LIKE '_pr%',
  name LIKE 'a!%%' ESCAPE '!',
  name IS NULL,
  flag AND qty > 0,
  flag OR qty > 0,
  NOT flag,
  flag IS TRUE,
  flag IS NOT FALSE,
  COALESCE(name, 'unknown'),
  NULLIF(qty, 0)
FROM items;
