-- An aggregate over an aggregate: the inner GROUP BY counts clicks per user (updating);
-- the outer GROUP BY counts how many users have each click count. When a user's count
-- moves from n to n+1 the inner -U/+U pair retracts the user from group n and adds it to
-- group n+1; when a group's last user leaves, the outer group is deleted (-D).
CREATE TABLE clicks (
  user_name STRING,
  page STRING,
  ms INT,
  ts TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  clicks BIGINT,
  num_users BIGINT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT clicks, COUNT(*) AS num_users
FROM (
  SELECT user_name, COUNT(*) AS clicks
  FROM clicks
  GROUP BY user_name
)
GROUP BY clicks;
