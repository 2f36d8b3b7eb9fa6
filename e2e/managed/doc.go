// Package managed holds the end-to-end tests of managed instances (mi-…,
// servers outside ECS registered with Cloud Assistant) in a region's
// DescribeCloudAssistantStatus listing: reported managed with their agent,
// never installed on, rebooted or looked up with DescribeInstances, judged
// on the simulator's truth.
package managed
