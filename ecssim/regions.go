package ecssim

import (
	"net/url"
	"strings"
)

// ---- DescribeRegions ----

type regionJSON struct {
	RegionId       string
	LocalName      string
	RegionEndpoint string
	Status         string
}

type describeRegionsResponse struct {
	RequestId string
	Regions   struct {
		Region []regionJSON
	}
}

// regionNames are the local names ECS gives the regions tests and demos
// use, in Simplified Chinese (the API's default language) and English.
// A region not listed here is named by its ID.
func regionNames() map[string][2]string {
	return map[string][2]string{
		"cn-qingdao":     {"华北1（青岛）", "China (Qingdao)"},
		"cn-beijing":     {"华北2（北京）", "China (Beijing)"},
		"cn-zhangjiakou": {"华北3（张家口）", "China (Zhangjiakou)"},
		"cn-huhehaote":   {"华北5（呼和浩特）", "China (Hohhot)"},
		"cn-wulanchabu":  {"华北6（乌兰察布）", "China (Ulanqab)"},
		"cn-hangzhou":    {"华东1（杭州）", "China (Hangzhou)"},
		"cn-shanghai":    {"华东2（上海）", "China (Shanghai)"},
		"cn-shenzhen":    {"华南1（深圳）", "China (Shenzhen)"},
		"cn-heyuan":      {"华南2（河源）", "China (Heyuan)"},
		"cn-guangzhou":   {"华南3（广州）", "China (Guangzhou)"},
		"cn-chengdu":     {"西南1（成都）", "China (Chengdu)"},
		"cn-hongkong":    {"中国香港", "China (Hong Kong)"},
		"ap-southeast-1": {"新加坡", "Singapore"},
		"ap-northeast-1": {"日本（东京）", "Japan (Tokyo)"},
		"us-west-1":      {"美国（硅谷）", "US (Silicon Valley)"},
		"us-east-1":      {"美国（弗吉尼亚）", "US (Virginia)"},
		"eu-central-1":   {"德国（法兰克福）", "Germany (Frankfurt)"},
		"eu-west-1":      {"英国（伦敦）", "UK (London)"},
	}
}

// describeRegions answers DescribeRegions: every configured region, in
// configuration order, as available, with its regional endpoint. The
// local names are Chinese unless AcceptLanguage asks for another language
// (the simulator knows English names only, so every other language gets
// those). InstanceChargeType and ResourceType filter what can be bought
// where; the simulator sells nothing, so they filter nothing.
func (s *Sim) describeRegions(reqID string, v url.Values) (any, *apiError) {
	lang := 0
	if l := v.Get("AcceptLanguage"); l != "" && !strings.HasPrefix(strings.ToLower(l), "zh") {
		lang = 1
	}
	names := regionNames()
	resp := describeRegionsResponse{RequestId: reqID}
	resp.Regions.Region = make([]regionJSON, 0, len(s.cfg.Regions))
	for _, r := range s.cfg.Regions {
		name := r
		if n, ok := names[r]; ok {
			name = n[lang]
		}
		resp.Regions.Region = append(resp.Regions.Region, regionJSON{
			RegionId: r, LocalName: name, RegionEndpoint: "ecs." + r + ".aliyuncs.com", Status: "available",
		})
	}
	return resp, nil
}
