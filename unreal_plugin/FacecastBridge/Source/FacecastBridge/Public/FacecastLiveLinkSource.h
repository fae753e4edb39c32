// A Live Link source that publishes facecast's 52 ARKit curves as one Basic-role subject.
#pragma once

#include "CoreMinimal.h"
#include "ILiveLinkSource.h"

class ILiveLinkClient;

class FACECASTBRIDGE_API FFacecastLiveLinkSource : public ILiveLinkSource
{
public:
	explicit FFacecastLiveLinkSource(FName InSubjectName);

	// Called from the game thread with the newest weights (ARKit order, kNumArkit values).
	void PushFrame(const float* Weights, int32 Count);

	// ILiveLinkSource
	virtual void ReceiveClient(ILiveLinkClient* InClient, FGuid InSourceGuid) override;
	virtual bool IsSourceStillValid() const override { return Client != nullptr; }
	virtual bool RequestSourceShutdown() override { Client = nullptr; return true; }
	virtual FText GetSourceType() const override { return FText::FromString(TEXT("facecast")); }
	virtual FText GetSourceMachineName() const override { return FText::FromString(TEXT("facecast bridge")); }
	virtual FText GetSourceStatus() const override { return FText::FromString(Client ? TEXT("Active") : TEXT("Stopped")); }

private:
	ILiveLinkClient* Client = nullptr;
	FGuid SourceGuid;
	FName SubjectName;
	bool bStaticDataSent = false;
};
