package asyncapi

// For the tests of package asyncapi_test.
var TopicPattern = topicPattern

const MaxTopicBytes = maxTopicBytes
