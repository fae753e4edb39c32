#include "FacecastLiveLinkSource.h"

#include "FacecastProtocol.h"
#include "ILiveLinkClient.h"
#include "Roles/LiveLinkBasicRole.h"
#include "Roles/LiveLinkBasicTypes.h"

FFacecastLiveLinkSource::FFacecastLiveLinkSource(FName InSubjectName) : SubjectName(InSubjectName) {}

void FFacecastLiveLinkSource::ReceiveClient(ILiveLinkClient* InClient, FGuid InSourceGuid)
{
	Client = InClient;
	SourceGuid = InSourceGuid;
	bStaticDataSent = false;
}

void FFacecastLiveLinkSource::PushFrame(const float* Weights, int32 Count)
{
	if (!Client) return;
	const FLiveLinkSubjectKey Key(SourceGuid, SubjectName);
	if (!bStaticDataSent)
	{
		FLiveLinkStaticDataStruct StaticData(FLiveLinkBaseStaticData::StaticStruct());
		FLiveLinkBaseStaticData& Base = *StaticData.Cast<FLiveLinkBaseStaticData>();
		for (int32 i = 0; i < facecast::kNumArkit; ++i) Base.PropertyNames.Add(FName(facecast::kArkitNames[i]));
		Client->PushSubjectStaticData_AnyThread(Key, ULiveLinkBasicRole::StaticClass(), MoveTemp(StaticData));
		bStaticDataSent = true;
	}
	FLiveLinkFrameDataStruct FrameData(FLiveLinkBaseFrameData::StaticStruct());
	FLiveLinkBaseFrameData& Base = *FrameData.Cast<FLiveLinkBaseFrameData>();
	Base.WorldTime = FPlatformTime::Seconds();
	Base.PropertyValues.Append(Weights, FMath::Min(Count, int32(facecast::kNumArkit)));
	Client->PushSubjectFrameData_AnyThread(Key, MoveTemp(FrameData));
}
